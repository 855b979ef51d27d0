"""intake: referrals in, screenings explained, the prosecutor's decision out (as events)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from services.intake.api.referrals import ReferralEndpoints
from services.intake.api.reports import ReportEndpoints
from services.intake.api.rulesets import RulesetEndpoints
from services.intake.api.sealing import SealingEndpoints
from services.intake.domain import decisions as rules
from services.intake.domain import review as review_rules
from services.intake.extensions import Clock
from services.intake.settings import IntakeSettings
from services.intake.usecases import decisions, erasure, referrals, rulesets, sealing, submissions
from services.intake.usecases import replay as what_if
from services.intake.usecases import review as queue
from shared.auth import Identity
from shared.db import Database
from shared.extensions import Auditor, ContextData, OwnSettings, settings_timer
from shared.http.problems import register_problem
from shared.messaging import CloudEvent, Outbox, reliable_handler
from shared.messaging.catalog import (
    CaseCompleted,
    CaseOpened,
    CaseTerminated,
    CaseWithdrawn,
    CaseworkErasureConfirmed,
    CaseworkSealingConfirmed,
    NotificationsErasureConfirmed,
    NotificationsSealingConfirmed,
    RecordConfirmation,
    ResourcesErasureConfirmed,
    ResourcesSealingConfirmed,
)
from shared.records import SealedRecord
from shared.sealing import PACK_DIR
from shared.service import ServiceBase

register_problem(rulesets.NoRulesetConfigured, 409, "no-ruleset-configured", "No ruleset configured")
register_problem(rulesets.InvalidRuleset, 422, "invalid-ruleset", "The ruleset pack is invalid")
register_problem(rulesets.RulesetVersionTaken, 409, "ruleset-version-taken", "Ruleset version already installed")
register_problem(submissions.ExternalIdTaken, 409, "external-id-taken", "A referral with this external_id exists")
register_problem(rulesets.RulesetVersionMissing, 409, "ruleset-version-missing",
                 "The ruleset pack version is not installed")
register_problem(review_rules.NothingToJudge, 409, "nothing-to-judge", "Nothing awaits this judgement")
register_problem(what_if.RulesetVersionNotFound, 404, "ruleset-version-not-found", "No such ruleset pack version")
register_problem(rules.InvalidTransition, 409, "invalid-transition", "Not allowed in the referral's status")
register_problem(rules.OverrideRequired, 409, "override-required", "The program needs a supervisor override")
register_problem(rules.OverrideNotPermitted, 403, "override-not-permitted", "Only a supervisor may override")
register_problem(rules.DecisionNotPermitted, 403, "decision-not-permitted", "Not allowed to decide")
register_problem(rules.UnknownReasonCode, 422, "unknown-reason-code", "Unknown reason code")
register_problem(rules.InvalidDecision, 422, "invalid-decision", "The decision is invalid")
# A sealed referral for a role that may not see it: the same 404 as a nonexistent id (ADR 0083).
register_problem(SealedRecord, 404, "not-found", "Not found")
register_problem(erasure.ReferralToEraseNotFound, 404, "not-found", "Not found")
register_problem(erasure.AlreadyErased, 409, "already-erased", "The referral was erased already")


SETTINGS_CLASS = IntakeSettings


class IntakeService(RulesetEndpoints, ReferralEndpoints, ReportEndpoints, SealingEndpoints, ServiceBase):
    """Referral intake and eligibility screening for pretrial diversion programs."""

    name = "intake"
    api_tags = {
        "programs": "The diversion programs of the caller's agency.",
        "referrals": "Referrals from the prosecutor's office: submission, screening against every program, decisions.",
        "reports": "Aggregate screening reports (small cells suppressed).",
        "rulesets": "The agency's eligibility ruleset packs that screenings use.",
        "sealing": "Sealing and erasure of closed records (RSMo 610.105, 610.120): the ledger and erasure orders.",
    }
    db = Database()
    outbox = Outbox()
    event_context = ContextData()
    clock = Clock()
    settings = OwnSettings(IntakeSettings)
    audit = Auditor()

    @settings_timer(IntakeSettings, "review_interval_seconds")
    def return_due_referrals(self) -> None:
        """Deferrals and eligibility dates that have come: back to the review queue, once across instances."""
        now = self.clock.now()
        returned = queue.return_due(self.db, self._emit, lambda agency: rulesets.current_ruleset(self.db, agency)[0],
                                    today=now.date(), now=now, limit=self.settings.review_batch)
        for row in returned:
            self.audit.record_as(Identity(sub="service:intake", agency=row.agency_id, roles=frozenset({"screener"})),
                                 "referral.returned_for_review", "referral", row.id,
                                 detail={"review_reasons": referrals.review_state(row)["review_reasons"]})
        self.db.commit()
        self.clock.passes += 1

    @settings_timer(IntakeSettings, "sealing_interval_seconds")
    def run_sealing_ledger(self) -> None:
        """Sealings whose day came start; services silent past the bound are asked again; spent ones surface."""
        done = sealing.run_ledger(self.db, self._emit, self.clock.now())
        self.db.commit()
        for row in done.surfaced:
            self.clock.surfaced.labels(row.kind).inc()
        self.clock.ledger_passes += 1

    # ------------------------------------------------------------ events in

    @reliable_handler(CaseCompleted)
    def on_case_completed(self, event: CloudEvent[CaseCompleted]) -> None:
        """The case ended well: the referral's disposition is dismissal or one-day probation."""
        data = event.data
        self._dispose(event, data.referral_id, data.disposition, data.case_id, data.completed_at, None)

    @reliable_handler(CaseTerminated)
    def on_case_terminated(self, event: CloudEvent[CaseTerminated]) -> None:
        """The case failed: the referral returns to prosecution."""
        data = event.data
        self._dispose(event, data.referral_id, rules.Disposition.RETURNED_TO_PROSECUTION, data.case_id,
                      data.terminated_at, data.reason)

    @reliable_handler(CaseOpened)
    def on_case_opened(self, event: CloudEvent[CaseOpened]) -> None:
        """casework opened the referral's case: the referral knows its case from now on."""
        data = event.data
        if decisions.record_case_opened(self.db, event.tenantid, data.referral_id, data.case_id):
            self._event_audit(event, "referral.case_opened", data.referral_id, {"case_id": data.case_id})
        self.db.commit()

    @reliable_handler(CaseWithdrawn)
    def on_case_withdrawn(self, event: CloudEvent[CaseWithdrawn]) -> None:
        """The case was withdrawn: the referral shows withdrawn and the agency's own system is told."""
        data = event.data
        if decisions.record_withdrawal(self.db, self._emit, event.tenantid, data.referral_id, case_id=data.case_id,
                               at=data.withdrawn_at, reason=data.reason):
            self._event_audit(event, "referral.withdrawn", data.referral_id, {"case_id": data.case_id})
            self._seal_if_due(event, data.referral_id, data.case_id, "withdrawn", data.withdrawn_at)
        self.db.commit()

    # ------------------------------------------------------------ sealing and erasure confirmations

    @reliable_handler(CaseworkSealingConfirmed)
    def on_casework_sealing_confirmed(self, event: CloudEvent[CaseworkSealingConfirmed]) -> None:
        """casework sealed what it holds: the ledger keeps its confirmation."""
        self._confirmed(event)

    @reliable_handler(ResourcesSealingConfirmed)
    def on_resources_sealing_confirmed(self, event: CloudEvent[ResourcesSealingConfirmed]) -> None:
        """resources sealed what it holds: the ledger keeps its confirmation."""
        self._confirmed(event)

    @reliable_handler(NotificationsSealingConfirmed)
    def on_notifications_sealing_confirmed(self, event: CloudEvent[NotificationsSealingConfirmed]) -> None:
        """notifications sealed what it holds: the ledger keeps its confirmation."""
        self._confirmed(event)

    @reliable_handler(CaseworkErasureConfirmed)
    def on_casework_erasure_confirmed(self, event: CloudEvent[CaseworkErasureConfirmed]) -> None:
        """casework erased the person's rows: the ledger keeps its confirmation."""
        self._confirmed(event)

    @reliable_handler(ResourcesErasureConfirmed)
    def on_resources_erasure_confirmed(self, event: CloudEvent[ResourcesErasureConfirmed]) -> None:
        """resources erased the person's rows: the ledger keeps its confirmation."""
        self._confirmed(event)

    @reliable_handler(NotificationsErasureConfirmed)
    def on_notifications_erasure_confirmed(self, event: CloudEvent[NotificationsErasureConfirmed]) -> None:
        """notifications erased the person's rows: the ledger keeps its confirmation."""
        self._confirmed(event)

    def _confirmed(self, event: CloudEvent[Any]) -> None:
        data: RecordConfirmation = event.data
        sealing.confirm_service(self.db, event.tenantid, data.request_id, data.service, data.confirmed_at)
        self.db.commit()

    def _seal_if_due(self, event: CloudEvent, referral_id: str, case_id: str | None, disposition: str,
                     at: dt.datetime) -> None:
        entry = sealing.on_disposition(self.db, self._emit, event.tenantid, referral_id, case_id, disposition, at,
                                       self.clock.now(), packs=self.settings.sealing_packs_dir or PACK_DIR)
        if entry is not None and entry.requested_at is not None:
            self._event_audit(event, "referral.sealing_requested", referral_id,
                              {"request_id": entry.request_id, "pack_version": entry.pack_version})

    def _event_audit(self, event: CloudEvent, action: str, referral_id: str, detail: dict[str, Any]) -> None:
        self.audit.record_as(
            _event_identity(self.event_context, event.tenantid), action, "referral", referral_id,
            request_id=self.event_context.get("request_id"), detail={**detail, "event_id": event.id})

    def _dispose(self, event: CloudEvent, referral_id: str, disposition: str, case_id: str, at: dt.datetime,
                 reason: str | None) -> None:
        changed = decisions.record_disposition(self.db, event.tenantid, referral_id, disposition, case_id=case_id,
                                               at=at, reason=reason, emit=self._emit)
        if changed:
            self._event_audit(event, "referral.disposed", referral_id,
                              {"disposition": str(disposition), "case_id": case_id})
            self._seal_if_due(event, referral_id, case_id, str(disposition), at)
        self.db.commit()



def _event_identity(context: dict[str, Any], agency: str) -> Identity:
    """Who acted in casework (the event's context headers), for the audit row; the service when unknown."""
    roles = context.get("roles") or ["case_manager"]
    try:
        return Identity(sub=str(context.get("sub") or "service:casework"), agency=agency, roles=roles)
    except ValidationError:
        return Identity(sub="service:casework", agency=agency, roles=frozenset({"case_manager"}))
