"""Which case each service referral serves, so a partner that never got a referral is reported to the case
manager although partner-bound bodies never name the case (ADR 0043).

`service_referral.requested` goes to partners and carries no case id by design. Notifications learns the
mapping from events partners never receive in that form: resources' `disclosure.recorded` (published in the
same transaction as the request) and the case id of `service_referral.status_changed` / `.escalated`
(stripped from the partner's copy). A `delivery.failed` handled before the mapping arrived is kept as a
pending notice for "the case manager of referral X" and re-addressed to that person when the mapping comes.
"""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.notifications.models import Delivery, PendingStaffNotice, ServiceReferralCase, StaffContact
from services.notifications.usecases.directory import release_notices
from services.notifications.usecases.fanout import FanoutContext, case_manager_of
from shared.messaging import CloudEvent
from shared.messaging.catalog import ResourcesDisclosureRecorded

log = logging.getLogger(__name__)

_WAITING = "case-manager-of-referral:"


def waiting_for_case(referral_id: str) -> str:
    """The pending notice's addressee while the referral's case (hence its manager) is not known yet."""
    return f"{_WAITING}{referral_id}"[:200]


def case_of(session: Session, agency: str, referral_id: str) -> str | None:
    return session.scalars(select(ServiceReferralCase.case_id).where(
        ServiceReferralCase.agency_id == agency, ServiceReferralCase.service_referral_id == referral_id,
    )).first()


def learn(session: Session, agency: str, referral_id: str | None, case_id: str | None, ctx: FanoutContext) -> bool:
    """Remember the referral's case (a referral never changes case: the first one stays) and send the case
    manager the failure notices that waited for it. True when deliveries were made."""
    if not referral_id or not case_id:
        return False
    if case_of(session, agency, referral_id) is None:
        # The three events that name it may arrive at once: another handler's row is the same fact, so keep it.
        with contextlib.suppress(IntegrityError), session.begin_nested():
            session.add(ServiceReferralCase(agency_id=agency, service_referral_id=referral_id, case_id=case_id,
                                            learned_at=ctx.now))
    return _readdress(session, agency, referral_id, case_id, ctx)


def learn_from_disclosure(session: Session, event: CloudEvent[ResourcesDisclosureRecorded],
                          ctx: FanoutContext) -> bool:
    return learn(session, event.tenantid, event.data.service_referral_id, event.data.case_id, ctx)


def _readdress(session: Session, agency: str, referral_id: str, case_id: str, ctx: FanoutContext) -> bool:
    rows = session.scalars(select(PendingStaffNotice).where(
        PendingStaffNotice.agency_id == agency, PendingStaffNotice.staff_id == waiting_for_case(referral_id),
        PendingStaffNotice.status == "pending",
    ).with_for_update(skip_locked=True)).all()
    manager = case_manager_of(session, agency, case_id) if rows else None
    if manager is None:
        return False
    for row in rows:
        told = session.scalars(select(Delivery.id).where(Delivery.trigger_event_id == row.trigger_event_id,
                                                         Delivery.target_key == f"staff:{manager}")).first()
        if told is not None:  # the manager also follows the topic and heard already
            row.status, row.settled_at = "sent", ctx.now
            continue
        row.staff_id, row.context = manager, {**row.context, "case_ref": case_id}
    session.flush()
    contact = session.scalars(select(StaffContact).where(StaffContact.agency_id == agency,
                                                         StaffContact.staff_id == manager)).first()
    log.info("referral %s serves case %s: %d failure notice(s) re-addressed to %s", referral_id, case_id,
             len(rows), manager)
    return contact is not None and release_notices(session, contact, ctx) > 0
