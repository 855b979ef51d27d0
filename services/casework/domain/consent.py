"""Consent ledger rules under 42 CFR Part 2: the §2.31 elements, §2.35 criminal-justice consents whose
revocation is deferred, the `covers` check run before any disclosure, and the §2.32 notice it carries.

A consent may be stored as an unsigned draft; it covers nothing until every §2.31 element is present.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.casework.domain.lifecycle import CaseworkError
from shared.disclosure import REDISCLOSURE_NOTICE

# §2.32(a)(1): one text for the whole suite, in shared.disclosure (ADR 0070).

# §2.32(a)(2), the short statement allowed where space is limited (e.g. an SMS or a subject line).
REDISCLOSURE_NOTICE_SHORT = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
# §2.35(d): what a criminal-justice recipient may do with the information (our wording of the rule).
CRIMINAL_JUSTICE_USE_RESTRICTION = (
    "Under 42 CFR 2.35(d) you may use and redisclose this information only to carry out your official "
    "duties with regard to the diversion (conditional release) in connection with which consent was given."
)


class InfoCategory(StrEnum):
    CONTACT_INFO = "contact_info"
    NEEDS_ASSESSMENT = "needs_assessment"
    PLAN_GOALS = "plan_goals"
    ATTENDANCE = "attendance"
    SUBSTANCE_USE_TREATMENT = "substance_use_treatment"
    MENTAL_HEALTH = "mental_health"
    CRIMINAL_JUSTICE_STATUS = "criminal_justice_status"


class Purpose(StrEnum):
    SERVICE_REFERRAL = "service_referral"
    CARE_COORDINATION = "care_coordination"
    PROGRESS_MONITORING = "progress_monitoring"  # the only purpose a §2.35 consent may name


class ConsentKind(StrEnum):
    STANDARD = "standard"  # §2.31
    CRIMINAL_JUSTICE = "criminal_justice"  # §2.35: recipient monitors the participant's progress


class DispositionEvent(StrEnum):
    """Ascertainable events a consent may expire on or become revocable at; both happen when the case
    reaches its outcome (completion is the disposition in a diversion program)."""

    FINAL_DISPOSITION = "final_disposition"
    PROGRAM_COMPLETION = "program_completion"


class SignatureMethod(StrEnum):
    WET_INK = "wet_ink"
    ELECTRONIC = "electronic"


class SignerCapacity(StrEnum):
    PARTICIPANT = "participant"
    GUARDIAN = "guardian"
    PERSONAL_REPRESENTATIVE = "personal_representative"


class Signature(BaseModel):
    model_config = ConfigDict(frozen=True)

    signed_by: str
    method: SignatureMethod
    signed_on: date
    capacity: SignerCapacity = SignerCapacity.PARTICIPANT


class Consent(BaseModel):
    """One written consent: the §2.31(a) elements (patient, discloser, information, recipient, purpose,
    right to revoke, expiry date or event, signature, date) plus §2.35 revocation terms when criminal-justice.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    agency_id: str
    kind: ConsentKind = ConsentKind.STANDARD
    participant_id: str
    participant_name: str
    discloser: str  # name or general designation of who may disclose (the agency's diversion unit)
    categories: frozenset[InfoCategory]
    recipient_org_id: str
    recipient_name: str
    purposes: frozenset[Purpose]
    right_to_revoke_acknowledged: bool = False
    revocation_instructions: str = ""
    expires_on: date | None = None
    expiry_event: DispositionEvent | None = None
    # §2.35(c): when a criminal-justice consent becomes revocable (a date, an event, or both: either one).
    revocable_on: date | None = None
    revocable_upon: DispositionEvent | None = None
    signature: Signature | None = None
    effective_on: date | None = None  # defaults to the signature date
    revoked_on: date | None = None
    revoked_by: str | None = None
    revocation_method: str | None = None

    @model_validator(mode="after")
    def _section_2_35_terms(self) -> Consent:
        if self.kind is ConsentKind.CRIMINAL_JUSTICE:
            if self.purposes - {Purpose.PROGRESS_MONITORING}:
                raise ValueError("a criminal-justice consent (§2.35) may only name progress_monitoring")
            if self.revocable_on is None and self.revocable_upon is None:
                raise ValueError(
                    "a criminal-justice consent (§2.35(c)) must state when it becomes revocable "
                    "(a date or final disposition)"
                )
            if self.expires_on and self.revocable_on and self.revocable_on > self.expires_on:
                raise ValueError("revocable_on cannot be after the consent expires")
        elif self.revocable_on is not None or self.revocable_upon is not None:
            raise ValueError("only a criminal-justice consent (§2.35) may defer revocation")
        return self

    @property
    def effective_from(self) -> date | None:
        if self.effective_on is not None:
            return self.effective_on
        return self.signature.signed_on if self.signature else None

    def missing_elements(self) -> list[str]:
        """§2.31(a) elements not yet present (signature last: drafts lack it)."""
        missing = []
        if not self.participant_name.strip():
            missing.append("patient name")
        if not self.discloser.strip():
            missing.append("discloser")
        if not self.categories:
            missing.append("information to be disclosed")
        if not self.recipient_org_id.strip() or not self.recipient_name.strip():
            missing.append("recipient")
        if not self.purposes:
            missing.append("purpose")
        # §2.35(a)(2) sets aside §2.31(a)(6) for criminal-justice consents (revocation is deferred instead).
        if self.kind is ConsentKind.STANDARD and not self.right_to_revoke_acknowledged:
            missing.append("right to revoke")
        if self.expires_on is None and self.expiry_event is None:
            missing.append("expiry date or event")
        if self.signature is None:
            missing.append("signature")
        return missing


class CoverageCode(StrEnum):
    COVERED = "covered"
    NO_CONSENT = "no_consent"
    RECIPIENT_NOT_NAMED = "recipient_not_named"
    PURPOSE_NOT_NAMED = "purpose_not_named"
    CATEGORY_NOT_NAMED = "category_not_named"
    INCOMPLETE = "incomplete"
    UNSIGNED = "unsigned"
    NOT_YET_EFFECTIVE = "not_yet_effective"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Coverage(BaseModel):
    """The answer to "may we disclose this?"; `notice` is the text that must travel with a disclosure."""

    model_config = ConfigDict(frozen=True)

    covered: bool
    consent_id: str | None
    code: CoverageCode
    reason: str
    notice: str | None = None


class ConsentRequired(CaseworkError):
    """No valid consent covers the disclosure (HTTP 403; nothing is sent)."""

    def __init__(self, coverage: Coverage) -> None:
        self.coverage = coverage
        super().__init__(coverage.reason)


class RevocationDeferred(CaseworkError):
    """A §2.35 consent cannot be revoked before the time or event it names (at the latest, disposition)."""

    def __init__(self, consent_id: str, revocable_from: str) -> None:
        self.consent_id = consent_id
        self.revocable_from = revocable_from
        self.problem_extra: dict[str, str] = {"revocable_from": revocable_from}
        super().__init__(
            f"consent {consent_id} is a criminal-justice consent (42 CFR 2.35) and cannot be revoked "
            f"before {revocable_from}"
        )


def expired_reason(consent: Consent, on_date: date, case_disposed: bool) -> str | None:
    """Why the consent has expired on `on_date` (None: it has not)."""
    return _expired(consent, on_date, case_disposed)


def _expired(consent: Consent, on_date: date, case_disposed: bool) -> str | None:
    if consent.expires_on is not None and on_date > consent.expires_on:
        return f"expired on {consent.expires_on.isoformat()}"
    if consent.expiry_event is not None and case_disposed:
        return f"expired at {consent.expiry_event.value.replace('_', ' ')}"
    if consent.kind is ConsentKind.CRIMINAL_JUSTICE and case_disposed:
        # §2.35(b)-(c): the consent serves the pending action; it does not outlive the disposition.
        return "expired at final disposition (criminal-justice consent)"
    return None


# Checks in order; a consent failing later in the list is the closer match, so its reason is reported.
def _evaluate(
    consent: Consent,
    recipient_org: str,
    categories: frozenset[InfoCategory],
    purpose: Purpose,
    on_date: date,
    case_disposed: bool,
) -> tuple[int, CoverageCode, str]:
    if consent.recipient_org_id != recipient_org:
        return 0, CoverageCode.RECIPIENT_NOT_NAMED, f"no consent names recipient {recipient_org}"
    if purpose not in consent.purposes:
        return (
            1,
            CoverageCode.PURPOSE_NOT_NAMED,
            (f"consent {consent.id} does not cover the purpose {purpose.value}"),
        )
    uncovered = sorted(c.value for c in categories - consent.categories)
    if uncovered:
        return (
            2,
            CoverageCode.CATEGORY_NOT_NAMED,
            (f"consent {consent.id} does not cover: {', '.join(uncovered)}"),
        )
    missing = [m for m in consent.missing_elements() if m != "signature"]
    if missing:
        return 3, CoverageCode.INCOMPLETE, f"consent {consent.id} lacks {', '.join(missing)} (42 CFR 2.31)"
    if consent.signature is None:
        return 4, CoverageCode.UNSIGNED, f"consent {consent.id} is not signed"
    effective = consent.effective_from
    assert effective is not None
    if on_date < effective:
        return (
            5,
            CoverageCode.NOT_YET_EFFECTIVE,
            (f"consent {consent.id} takes effect on {effective.isoformat()}"),
        )
    if consent.revoked_on is not None and on_date >= consent.revoked_on:
        return (
            6,
            CoverageCode.REVOKED,
            f"consent {consent.id} was revoked on {consent.revoked_on.isoformat()}",
        )
    expired = _expired(consent, on_date, case_disposed)
    if expired:
        return 7, CoverageCode.EXPIRED, f"consent {consent.id} {expired}"
    return 8, CoverageCode.COVERED, f"covered by consent {consent.id}"


def notice_for(consent: Consent) -> str:
    if consent.kind is ConsentKind.CRIMINAL_JUSTICE:
        return f"{REDISCLOSURE_NOTICE}\n\n{CRIMINAL_JUSTICE_USE_RESTRICTION}"
    return REDISCLOSURE_NOTICE


def covers(
    consents: Iterable[Consent],
    participant_id: str,
    recipient_org: str,
    categories: Iterable[InfoCategory | str],
    purpose: Purpose | str,
    on_date: date,
    case_disposed: bool,
) -> Coverage:
    """Does a valid consent of this participant cover disclosing `categories` to `recipient_org` for
    `purpose` on `on_date`? The newest covering consent wins; otherwise the reason of the closest one."""
    wanted = frozenset(InfoCategory(c) for c in categories)
    if not wanted:
        raise ValueError("a disclosure names at least one information category")
    goal = Purpose(purpose)
    mine = [c for c in consents if c.participant_id == participant_id]
    if not mine:
        return Coverage(
            covered=False,
            consent_id=None,
            code=CoverageCode.NO_CONSENT,
            reason=f"no consent on record for participant {participant_id}",
        )

    def newest_first(c: Consent) -> tuple[str, str]:
        signed = c.signature.signed_on.isoformat() if c.signature else ""
        return signed, c.id

    ranked = sorted(
        ((_evaluate(c, recipient_org, wanted, goal, on_date, case_disposed), c) for c in mine),
        key=lambda pair: (pair[0][0], newest_first(pair[1])),
    )
    (stage, code, reason), best = ranked[-1]
    if code is CoverageCode.COVERED:
        return Coverage(covered=True, consent_id=best.id, code=code, reason=reason, notice=notice_for(best))
    named = best.id if stage > 0 else None
    return Coverage(covered=False, consent_id=named, code=code, reason=reason)


def revocable_from(consent: Consent) -> str:
    """When a consent can be revoked, in words (for messages and the UI)."""
    if consent.kind is ConsentKind.STANDARD:
        return "now"
    parts = []
    if consent.revocable_on is not None:
        parts.append(consent.revocable_on.isoformat())
    if consent.revocable_upon is not None:
        parts.append(consent.revocable_upon.value.replace("_", " "))
    return " or ".join(parts)


def revoke(consent: Consent, *, on: date, by: str, method: str, case_disposed: bool) -> Consent:
    """Record a revocation. A §2.35 consent is revocable only from its stated date or event, and always
    once the case is disposed. Revoking an already revoked consent keeps the first revocation."""
    if consent.revoked_on is not None:
        return consent
    if consent.kind is ConsentKind.CRIMINAL_JUSTICE and not case_disposed:
        date_reached = consent.revocable_on is not None and on >= consent.revocable_on
        if not date_reached:
            raise RevocationDeferred(consent.id, revocable_from(consent))
    return consent.model_copy(update={"revoked_on": on, "revoked_by": by, "revocation_method": method})


class DisclosureRecord(BaseModel):
    """One row of the disclosure log: what went to whom, under which consent, with which notice."""

    model_config = ConfigDict(frozen=True)

    id: str
    agency_id: str
    participant_id: str
    consent_id: str
    recipient_org_id: str
    categories: frozenset[InfoCategory]
    purpose: Purpose
    disclosed_at: datetime
    disclosed_by: str
    subject_ref: str | None = None  # e.g. the service referral id the disclosure travelled with
    notice: str = Field(min_length=1)


def record_disclosure(
    coverage: Coverage,
    *,
    disclosure_id: str,
    agency_id: str,
    participant_id: str,
    recipient_org_id: str,
    categories: Iterable[InfoCategory | str],
    purpose: Purpose | str,
    at: datetime,
    by: str,
    subject_ref: str | None = None,
) -> DisclosureRecord:
    """The log row for a covered disclosure; `ConsentRequired` when the coverage said no."""
    if not coverage.covered or coverage.consent_id is None or coverage.notice is None:
        raise ConsentRequired(coverage)
    return DisclosureRecord(
        id=disclosure_id,
        agency_id=agency_id,
        participant_id=participant_id,
        consent_id=coverage.consent_id,
        recipient_org_id=recipient_org_id,
        categories=frozenset(InfoCategory(c) for c in categories),
        purpose=Purpose(purpose),
        disclosed_at=at,
        disclosed_by=by,
        subject_ref=subject_ref,
        notice=coverage.notice,
    )
