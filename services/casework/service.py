"""casework: cases from accepted referrals to dismissal, with case managers, plans and consents."""

from __future__ import annotations

import logging
from typing import Any

from nameko.extensions import DependencyProvider

from services.casework.api.appointments import AppointmentEndpoints
from services.casework.api.cases import CaseEndpoints
from services.casework.api.conditions import ConditionLedgerEndpoints
from services.casework.api.consents import ConsentEndpoints
from services.casework.api.corrections import CorrectionEndpoints
from services.casework.api.participants import ParticipantEndpoints
from services.casework.api.people import PeopleEndpoints
from services.casework.api.plans import PlanEndpoints
from services.casework.api.reports import ReportEndpoints
from services.casework.api.staff import StaffEndpoints
from services.casework.api.supervision import ConditionEndpoints, VisitEndpoints
from services.casework.domain.appointments import AppointmentNotChangeable
from services.casework.domain.assignment import CaseloadFull, ProgramNotServed
from services.casework.domain.conditions import (
    ConditionEditRefused,
    ConditionsUnmet,
    LedgerEntryRefused,
    WaiverNotApplicable,
)
from services.casework.domain.consent import RevocationDeferred
from services.casework.domain.goals import GoalOutsideAssessment
from services.casework.domain.lifecycle import (
    CaseClosed,
    DurationExceeded,
    InvalidTransition,
    OverrideNotPermitted,
    OverrideRequired,
    ReasonRequired,
)
from services.casework.domain.supervision import ConditionProgressError, ContactAlreadySettled
from services.casework.settings import CaseworkSettings
from services.casework.usecases import assignment, consent_events, disclosures, events, sealing, supervision
from services.casework.usecases.common import Missing, utcnow
from shared.auth import Identity
from shared.db import Database
from shared.extensions import Auditor, ContextData, OwnSettings, settings_timer
from shared.http import register_problem
from shared.messaging import Outbox, reliable_handler
from shared.messaging.catalog import (
    DisclosureFacts,
    NotificationsDisclosureRecorded,
    RecordErasureRequested,
    RecordSealingRequested,
    ReferralAccepted,
    ResourcesDisclosureRecorded,
    ServiceReferralStatusChanged,
)
from shared.messaging.envelope import CloudEvent
from shared.messaging.signing import key_of
from shared.records import SealedRecord, tombstone_key
from shared.service import ServiceBase

log = logging.getLogger(__name__)

SETTINGS_CLASS = CaseworkSettings

# The errors of the domain and the use cases as problems (an error's `problem_extra` joins the document).
register_problem(Missing, 404, "not-found", "Not found")
register_problem(SealedRecord, 404, "not-found", "Not found")  # api.base answers it as Missing's own 404 first
register_problem(InvalidTransition, 409, "invalid-transition", "Conflict")
register_problem(OverrideRequired, 409, "override-required", "Conflict")
register_problem(DurationExceeded, 409, "duration-exceeded", "Conflict")
register_problem(ReasonRequired, 422, "invalid-transition-request", "Request body is invalid")
register_problem(RevocationDeferred, 409, "revocation-deferred", "Conflict")
register_problem(CaseClosed, 409, "case-closed", "Conflict")
register_problem(OverrideNotPermitted, 403, "override-forbidden", "Forbidden")
register_problem(ConditionProgressError, 409, "condition-progress", "Conflict")
register_problem(ContactAlreadySettled, 409, "contact-settled", "Conflict")
register_problem(CaseloadFull, 409, "assignment-refused", "Conflict")
register_problem(ProgramNotServed, 409, "assignment-refused", "Conflict")
register_problem(ConditionsUnmet, 409, "conditions-unmet", "Conflict")
register_problem(ConditionEditRefused, 409, "condition-edit-refused", "Conflict")
register_problem(WaiverNotApplicable, 422, "waiver-not-applicable", "Request body is invalid")
register_problem(LedgerEntryRefused, 422, "invalid-ledger-entry", "Request body is invalid")
register_problem(GoalOutsideAssessment, 422, "goal-outside-assessment", "Request body is invalid")
register_problem(AppointmentNotChangeable, 409, "appointment-not-changeable", "Conflict")


class TombstoneKey(DependencyProvider):
    """The tombstone HMAC key (ADR 0083/0084), derived once at setup from the deployment's signing key."""

    def setup(self) -> None:
        self.key = tombstone_key(key_of(self.container))

    def get_dependency(self, worker_ctx: Any) -> bytes:
        return self.key


class CaseworkService(StaffEndpoints, CaseEndpoints, PlanEndpoints, ConditionEndpoints, ConditionLedgerEndpoints,
                      VisitEndpoints, AppointmentEndpoints, ConsentEndpoints, PeopleEndpoints, ReportEndpoints,
                      ParticipantEndpoints, CorrectionEndpoints, ServiceBase):
    """Case management for diversion participants: staff, cases, plans, supervision, consents and outcomes."""

    name = "casework"
    api_tags = {
        "cases": "Diversion cases and their participants: caseloads, assignment, transitions to an outcome.",
        "supervision": "Conditions, contacts and check-ins, appointments and incidents of a case.",
        "plan": "Needs assessments and the versioned support plan of a case.",
        "consents": "42 CFR Part 2 consents of a participant and their revocation.",
        "reports": "Caseload, outcome and overdue reports (small cells suppressed).",
        "staff": "Case managers and supervisors of the agency, and the agency's casework settings.",
    }
    db = Database()
    outbox = Outbox()
    context = ContextData()
    settings = OwnSettings(CaseworkSettings)
    audit = Auditor()
    tombstones = TombstoneKey()

    # ------------------------------------------------------------ events in and the supervision timer

    @reliable_handler(ReferralAccepted)
    def on_referral_accepted(self, event: CloudEvent[ReferralAccepted]) -> None:
        """Open exactly one case (the inbox absorbs redeliveries; the unique key absorbs republished copies); an
        erased referral's event (a replay, a republish, a restored backup) opens nothing (ADR 0083)."""
        if sealing.refused(self.db, self.tombstones, event.tenantid, event.id, referral=event.data.referral_id):
            return
        case = events.open_case_from_referral(self.db, self._emit, event, self.settings)
        linked = events.link_same_person(self.db, event, case)
        if linked:  # intake's duplicate detection matched an earlier case's person (ADR 0071)
            self.audit.record_as(
                Identity(sub="service:casework", agency=event.tenantid, roles=frozenset({"case_manager"})),
                "participant.linked", "participant", case.participant_id,
                detail={"person_id": linked[0].person_id, "source": "duplicate_detection",
                        "referral_ids": list(event.data.same_person_referral_ids)})

    @reliable_handler(RecordSealingRequested)
    def on_record_sealing_requested(self, event: CloudEvent[RecordSealingRequested]) -> None:
        """Seal the case and its participant (RSMo 610.105) and confirm in the same transaction, every attempt."""
        counts = sealing.seal_case(self.db, self._emit, event.tenantid, event.data, utcnow())
        log.info("sealing request %s (attempt %d): %s", event.data.request_id, event.data.attempt, counts)

    @reliable_handler(RecordErasureRequested)
    def on_record_erasure_requested(self, event: CloudEvent[RecordErasureRequested]) -> None:
        """Delete the case's and the person's rows, keep tombstones, confirm in the same transaction."""
        counts = sealing.erase_case(self.db, self._emit, event.tenantid, event.data, self.tombstones, utcnow())
        log.info("erasure request %s (attempt %d): %d row(s) deleted", event.data.request_id, event.data.attempt,
                 sum(counts.values()))

    def _disclosure(self, event: CloudEvent[Any], source: str) -> None:
        data: DisclosureFacts = event.data
        if sealing.refused(self.db, self.tombstones, event.tenantid, event.id, case=data.case_id,
                           participant=data.participant_id):
            return
        disclosures.record_event(self.db, event.tenantid, event.id, source, data, utcnow())

    @reliable_handler(ResourcesDisclosureRecorded)
    def on_resources_disclosure(self, event: CloudEvent[ResourcesDisclosureRecorded]) -> None:
        """A service referral sent or a partner's read: an entry of the accounting of disclosures (ADR 0071)."""
        self._disclosure(event, "resources")

    @reliable_handler(NotificationsDisclosureRecorded)
    def on_notifications_disclosure(self, event: CloudEvent[NotificationsDisclosureRecorded]) -> None:
        """A delivery to a partner made or withheld: an entry of the accounting of disclosures (ADR 0071)."""
        self._disclosure(event, "notifications")

    @reliable_handler(ServiceReferralStatusChanged)
    def on_service_referral_status_changed(self, event: CloudEvent[ServiceReferralStatusChanged]) -> None:
        data = event.data
        events.apply_referral_status(self.db, self._emit, event.tenantid, data.service_referral_id, data.status,
                                     case_id=data.case_id)

    @settings_timer(CaseworkSettings, "consent_expiry_interval_seconds")
    def consent_expiry(self) -> None:
        """Publish consent.expired once for each consent past its expiry date or event (ADR 0070)."""
        announced = consent_events.announce_expired(self.db, self._emit, utcnow())
        self.db.commit()
        if announced:
            log.info("announced %d expired consent(s)", announced)

    @settings_timer(CaseworkSettings, "timer_interval_seconds")
    def supervision_sweep(self) -> None:
        """Assign waiting cases where room has freed up; publish overdue check-ins, silent cases and approaching
        program ends, each once across replicas."""
        assigned = assignment.assign_waiting_cases(self.db, self._emit, self.settings, utcnow())
        self.db.commit()
        if assigned:
            log.info("assigned %d waiting case(s)", assigned)
        published = supervision.supervision_sweep(self.db, self._emit, self.settings, utcnow())
        self.db.commit()
        if published:
            log.info("supervision sweep published %d alerts", published)
