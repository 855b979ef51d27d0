"""Closed-loop service referrals: create one (after casework confirms a covering consent), read, move on."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from nameko.exceptions import UnknownService
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.resources.domain.referrals import (
    Actor,
    ConsentAnswer,
    Status,
    actor_of,
    check_accepting,
    check_transition,
    disclosed_categories,
    read_consent_answer,
    respond_by,
    sla_hours,
)
from services.resources.mapping import partner_record, referral_view, withheld_view
from services.resources.models import SERVICE, ServiceReferral, ServiceReferralHistory
from services.resources.schemas import (
    PartnerServiceReferralOut,
    ServiceReferralCreate,
    ServiceReferralOut,
    ServiceReferralQuery,
    ServiceReferralStatusChange,
)
from services.resources.usecases import caseload, sharing
from shared import disclosure, records
from shared.extensions import AuditLog
from shared.http import Call
from shared.http.concurrency import etag, require_if_match
from shared.http.pagination import paginate
from shared.http.problems import BadRequest, Forbidden, NotFound, ServiceUnavailable, UnprocessableContent
from shared.messaging import Emit, RemoteError, RpcTimeout, new_event
from shared.messaging.catalog import (
    DisclosureScope,
    PartnerContact,
    PartnerReferralPayload,
    ResourcesDisclosureRecorded,
    ServiceReferralRequested,
    ServiceReferralStatusChanged,
)
from shared.sealing import LegalBasisProblem

ConsentCheck = Callable[..., Any]  # casework's `consent_covers` RPC
KIND = "service_referral"  # the record class of a sealed referral (`record_mark.kind`)
ABSENT = "no such service referral"  # a sealed referral answers exactly as a nonexistent one


def actor(call: Call) -> Actor:
    assert call.identity is not None
    return actor_of(call.identity.roles)


def visible(call: Call) -> Select[tuple[ServiceReferral]]:
    """Referrals the caller may see: its agency's; a partner only those addressed to its organization."""
    assert call.identity is not None
    statement = select(ServiceReferral).where(ServiceReferral.agency_id == call.agency)
    if actor(call) is Actor.PARTNER:
        statement = statement.where(ServiceReferral.organization_id == (call.identity.org or "\x00"))
    return statement


def guard_sealed(session: Session, audit: AuditLog | None, call: Call, ref: ServiceReferral, *,
                 change: bool = False) -> None:
    """The sealing rule (ADR 0083) for every read and change of one referral: a sealed referral is absent
    (404, the same body as a nonexistent id) for every role and for any change; a records officer reads it
    only naming a RSMo 610.120 code in X-Legal-Basis (400 otherwise), each opening audited with the code."""
    assert call.identity is not None
    if change:
        if records.is_sealed(session, ref.agency_id, KIND, ref.id):
            raise NotFound(ABSENT)
        return
    try:
        code = records.guard_read(session, call.identity.roles, call.legal_basis, ref.agency_id, KIND, ref.id)
    except records.SealedRecord:
        raise NotFound(ABSENT) from None
    except LegalBasisProblem as problem:
        kind = BadRequest if problem.status == 400 else Forbidden
        raise kind(problem.detail, slug="legal-basis-required" if problem.status == 400 else "forbidden") from None
    if code is not None and audit is not None:
        audit.record_now(call, "sealed_record.opened", KIND, ref.id, detail={"legal_basis": code})


def load(session: Session, call: Call, referral_id: str, *, lock: bool = False,
         audit: AuditLog | None = None, change: bool = False) -> ServiceReferral:
    """The referral (404 outside the agency or, for a partner, outside its organization, or sealed:
    `guard_sealed`); a case manager reaches it only while its case is on their caseload (403, audited, as
    in casework)."""
    statement = visible(call).where(ServiceReferral.id == referral_id)
    if lock:
        statement = statement.with_for_update()
    ref = session.scalars(statement).first()
    if ref is None:
        raise NotFound(ABSENT)
    guard_sealed(session, audit, call, ref, change=change)
    if actor(call) is Actor.AGENCY and not caseload.on_caseload(session, call, ref.case_id):
        if audit is not None:
            raise caseload.deny(audit, call, "service_referral.read", ref.id, ref.case_id)
        raise Forbidden("this case is not on your caseload", slug="not-on-caseload")
    return ref


def disclosure_event(ref: ServiceReferral, channel: str, at: dt.datetime) -> ResourcesDisclosureRecorded:
    """What a partner received of this referral, for casework's accounting of disclosures (ADR 0071)."""
    return ResourcesDisclosureRecorded(
        participant_id=ref.participant_id, case_id=ref.case_id, service_referral_id=ref.id,
        recipient_org_id=ref.organization_id, channel=channel, categories=list(ref.consent_categories),
        purpose=ref.consent_purpose, consent_id=ref.consent_id, outcome="disclosed", occurred_at=at,
    )


def partner_view(session: Session, ref: ServiceReferral, **extra: Any) -> dict[str, Any]:
    """The partner's copy of the referral, as its sharing profile allows (ADR 0070): what every
    partner-bound event carries for webhooks and the AMQP feed, the same projection as the partner API."""
    return disclosure.project(partner_record(ref, **extra),
                              sharing.profile_for(session, ref.agency_id, ref.organization_id))


def views(session: Session, call: Call, refs: list[ServiceReferral], consent_covers: ConsentCheck | None = None
          ) -> list[ServiceReferralOut | PartnerServiceReferralOut]:
    """The caller's view of each referral: the agency's whole; a partner's through its sharing profile, and,
    in a list (`consent_covers` given), only id and status of a referral no valid consent covers now."""
    who = actor(call)
    profiles: dict[tuple[str, str], disclosure.SharingProfile] = {}
    out: list[ServiceReferralOut | PartnerServiceReferralOut] = []
    for ref in refs:
        if who is not Actor.PARTNER:
            out.append(referral_view(ref, who))
            continue
        consent = _consent_answer(call, ref, consent_covers, "partner_list")
        if consent is not None and consent.consent_id is None:
            out.append(withheld_view(ref))
            continue
        key = (ref.agency_id, ref.organization_id)
        if key not in profiles:
            profiles[key] = sharing.profile_for(session, *key)
        out.append(referral_view(ref, who, profiles[key]))
    return out


def scope(ref: ServiceReferral) -> DisclosureScope:
    return DisclosureScope(consent_id=ref.consent_id, participant_id=ref.participant_id,
                           categories=list(ref.consent_categories or []), purpose=ref.consent_purpose)


def _history(session: Session, ref: ServiceReferral, previous: str | None, call: Call, at: dt.datetime) -> None:
    identity = call.identity
    session.add(ServiceReferralHistory(
        service_referral_id=ref.id, agency_id=ref.agency_id, from_status=previous, to_status=ref.status,
        reason_code=ref.reason_code, note=ref.note if previous is not None else None,
        changed_by=identity.sub if identity else "resources", changed_by_role=actor(call).value, changed_at=at,
    ))


def _refused(audit: AuditLog, call: Call, outcome: Any, detail: dict[str, Any]) -> None:
    audit.record_now(call, "service_referral.create", "service_referral", None, detail=detail, outcome=outcome)


def create(session: Session, emit: Emit, audit: AuditLog, call: Call, body: ServiceReferralCreate,
           consent_covers: ConsentCheck, default_sla_hours: float, now: dt.datetime,
           tombstone_key: bytes | None = None) -> ServiceReferral:
    """Refer a participant to a service that takes referrals, once casework confirms a covering consent;
    an erased case (its tombstone, with `tombstone_key`) is answered as an unknown case."""
    service = session.execute(select(SERVICE).where(SERVICE.c.id == body.service_id)).mappings().first()
    if service is None:
        raise UnprocessableContent("no such service in the directory", slug="unknown-service",
                                   errors=[{"field": "service_id", "message": "unknown service",
                                            "type": "unknown"}])
    check_accepting(service["status"], service["capacity"])
    erased = tombstone_key is not None and records.buried(session, records.digests(
        tombstone_key, call.agency, case=body.case_id, participant=body.participant_id))
    caseload.require_case(session, audit, call, body.case_id, body.participant_id, erased=erased)
    # Derived by the server from what the partner will receive; the body's declared categories are ignored.
    draft = {"participant_name": body.participant_name, "phone": body.contact.phone,
             "email": str(body.contact.email) if body.contact.email else None,
             "preferred_language": body.contact.preferred_language, "need": body.need,
             "need_category": body.need_category, "appointment_preference": body.appointment_preference}
    profile = sharing.profile_for(session, call.agency, service["organization_id"])
    categories = disclosed_categories(disclosure.derive_categories(disclosure.project(draft, profile)))
    try:
        answer = consent_covers(
            participant_id=body.participant_id, recipient_org=service["organization_id"],
            categories=categories, purpose=body.consent.purpose, on_date=dt.date.today().isoformat(),
            case_id=body.case_id, channel="service_referral",  # a refusal is a withheld disclosure (ADR 0071)
        )
    except (RpcTimeout, RemoteError, UnknownService) as exc:
        _refused(audit, call, "failure", {"reason": "consent check unavailable", "error": type(exc).__name__})
        raise ServiceUnavailable("the consent check (casework) did not answer; nothing was sent, try again",
                                 slug="consent-check-unavailable", headers={"Retry-After": "30"}) from None
    consent = read_consent_answer(answer)
    if consent.consent_id is None:
        reason = consent.reason
        _refused(audit, call, "denied", {"reason": "consent-required", "detail": reason[:300],
                                         "categories": categories, "purpose": body.consent.purpose})
        raise Forbidden(
            f"no consent on record covers sharing {', '.join(categories)} with this organization for "
            f"{body.consent.purpose}: {reason or 'not covered'}; nothing was sent",
            slug="consent-required", reason=reason, categories=categories,
        )
    ref = ServiceReferral(
        id=str(uuid.uuid4()), agency_id=call.agency, case_id=body.case_id, participant_id=body.participant_id,
        participant_name=body.participant_name, phone=body.contact.phone,
        email=str(body.contact.email) if body.contact.email else None,
        preferred_language=body.contact.preferred_language, need=body.need, need_category=body.need_category,
        appointment_preference=body.appointment_preference, service_id=body.service_id,
        organization_id=service["organization_id"], consent_id=consent.consent_id,
        consent_categories=categories, consent_purpose=body.consent.purpose,
        redisclosure_notice=consent.notice, status=Status.REQUESTED.value, version=1,
        requested_by=call.actor, requested_at=now,
        respond_by=respond_by(now, sla_hours(service["referral_sla_hours"], default_sla_hours)), updated_at=now,
    )
    session.add(ref)
    _history(session, ref, None, call, now)
    emit(new_event(ServiceReferralRequested(
        service_referral_id=ref.id, organization_id=ref.organization_id, service_id=ref.service_id,
        consent_id=ref.consent_id, requested_at=now, respond_by=ref.respond_by,
        partner=PartnerReferralPayload(
            participant_name=ref.participant_name,
            contact=PartnerContact(phone=ref.phone, email=ref.email, preferred_language=ref.preferred_language),
            need=ref.need, appointment_preference=ref.appointment_preference, need_category=ref.need_category,
            redisclosure_notice=ref.redisclosure_notice or None,
        ),
        partner_view=partner_view(session, ref), scope=scope(ref),
    ), subject=ref.id, tenantid=call.agency))
    emit(new_event(disclosure_event(ref, "service_referral", now), subject=ref.participant_id, tenantid=call.agency))
    audit.record(call, "service_referral.created", "service_referral", ref.id,
                 detail={"service_id": ref.service_id, "organization_id": ref.organization_id,
                         "consent_id": ref.consent_id, "categories": categories})
    return ref


def list_referrals(session: Session, audit: AuditLog, call: Call,
                   query: ServiceReferralQuery) -> tuple[list[ServiceReferral], str | None]:
    """The caller's referrals, newest first (the read is audited: referrals name a person)."""
    assert call.identity is not None
    statement = visible(call)
    basis = records.may_list_sealed(call.identity.roles, call.legal_basis)
    if basis is None:  # sealed referrals are left out, as if absent (a records officer naming a basis: in)
        statement = statement.where(records.unsealed(ServiceReferral.id, call.agency, KIND))
    if actor(call) is Actor.AGENCY:
        statement = caseload.caseload_filter(call, statement)
    names = ("status", "service_id") + (("case_id", "participant_id") if actor(call) is Actor.AGENCY else ())
    for name in names:
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(getattr(ServiceReferral, name) == value)
    page, next_cursor = paginate(session, call, statement,
                                 order=(ServiceReferral.requested_at.desc(), ServiceReferral.id.desc()),
                                 key=lambda row: (row.requested_at, row.id))
    audit.record_now(call, "service_referral.read", "service_referral", None,
                     detail={"listed": len(page), "ids": [r.id for r in page]})
    if basis is not None:
        for opened in sorted(records.sealed_ids(session, call.agency, KIND, [r.id for r in page])):
            audit.record_now(call, "sealed_record.opened", KIND, opened, detail={"legal_basis": basis})
    return page, next_cursor


def _consent_answer(call: Call, ref: ServiceReferral, consent_covers: ConsentCheck | None,
                    channel: str) -> ConsentAnswer | None:
    """Casework's answer now for a partner's access (None: not a partner, or no check wired); fails closed:
    503 when casework does not answer."""
    if actor(call) is not Actor.PARTNER or consent_covers is None:
        return None
    try:
        answer = consent_covers(
            participant_id=ref.participant_id, recipient_org=ref.organization_id,
            categories=list(ref.consent_categories or ["contact_info"]), purpose=ref.consent_purpose,
            on_date=dt.date.today().isoformat(), case_id=ref.case_id, channel=channel)
    except (RpcTimeout, RemoteError, UnknownService):
        raise ServiceUnavailable("the consent check (casework) did not answer; try again",
                                 slug="consent-check-unavailable", headers={"Retry-After": "30"}) from None
    return read_consent_answer(answer)


def require_consent(audit: AuditLog, call: Call, ref: ServiceReferral, consent_covers: ConsentCheck | None,
                    channel: str) -> None:
    """A partner's read or answer discloses the referral again: a valid consent must cover it now (ADR 0070);
    403 `consent-not-covering` otherwise (fails closed when casework does not answer: 503)."""
    consent = _consent_answer(call, ref, consent_covers, channel)
    if consent is not None and consent.consent_id is None:
        audit.record_now(call, "service_referral.read", "service_referral", ref.id, outcome="denied",
                         detail={"reason": "consent-not-covering", "detail": consent.reason[:300]})
        raise Forbidden(f"no valid consent covers this disclosure now: {consent.reason or 'not covered'}",
                        slug="consent-not-covering", reason=consent.reason)


def read(session: Session, emit: Emit, audit: AuditLog, call: Call, referral_id: str,
         now: dt.datetime, consent_covers: ConsentCheck | None = None) -> ServiceReferral:
    """One referral; a partner's read is a disclosure to that partner, published for the accounting."""
    ref = load(session, call, referral_id, audit=audit)
    require_consent(audit, call, ref, consent_covers, "partner_read")
    audit.record_now(call, "service_referral.read", "service_referral", ref.id, detail={})
    if actor(call) is Actor.PARTNER:
        emit(new_event(disclosure_event(ref, "partner_read", now), subject=ref.participant_id, tenantid=ref.agency_id))
    return ref


def change_status(session: Session, emit: Emit, audit: AuditLog, call: Call, referral_id: str,
                  change: ServiceReferralStatusChange, now: dt.datetime,
                  consent_covers: ConsentCheck | None = None) -> ServiceReferral:
    """Move a referral on (who may move it where: `domain.referrals`), under If-Match."""
    ref = load(session, call, referral_id, lock=True, audit=audit, change=True)
    require_consent(audit, call, ref, consent_covers, "partner_read")
    require_if_match(call, etag(ref.id, ref.version))
    previous = Status(ref.status)
    status = check_transition(previous, change.status, actor(call), change.reason_code)
    ref.status, ref.reason_code, ref.note = status.value, change.reason_code, change.note
    ref.version += 1
    ref.updated_at = now
    _history(session, ref, previous.value, call, now)
    emit(new_event(ServiceReferralStatusChanged(
        service_referral_id=ref.id, organization_id=ref.organization_id, service_id=ref.service_id,
        case_id=ref.case_id, status=status.value, previous_status=previous.value,
        reason_code=ref.reason_code, note=ref.note, changed_at=now, changed_by=call.actor,
        partner_view=partner_view(session, ref, previous_status=previous.value, changed_at=now.isoformat()),
        scope=scope(ref),
    ), subject=ref.id, tenantid=ref.agency_id))
    audit.record(call, "service_referral.status_changed", "service_referral", ref.id,
                 detail={"from": previous.value, "to": status.value, "reason_code": ref.reason_code})
    return ref


def history(session: Session, audit: AuditLog, call: Call, referral_id: str) -> list[ServiceReferralHistory]:
    """Every status of a referral (the referring agency's own referrals only)."""
    ref = load(session, call, referral_id, audit=audit)
    rows = list(session.scalars(select(ServiceReferralHistory)
                                .where(ServiceReferralHistory.service_referral_id == ref.id,
                                       ServiceReferralHistory.agency_id == call.agency)
                                .order_by(ServiceReferralHistory.id)).all())
    audit.record_now(call, "service_referral.read", "service_referral", ref.id, detail={"history": len(rows)})
    return rows
