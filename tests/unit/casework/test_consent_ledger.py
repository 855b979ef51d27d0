"""Consent ledger under 42 CFR Part 2: what a consent covers, why not, and §2.35 deferred revocation."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.casework.domain.consent import (
    CRIMINAL_JUSTICE_USE_RESTRICTION,
    REDISCLOSURE_NOTICE,
    Consent,
    ConsentKind,
    ConsentRequired,
    CoverageCode,
    DispositionEvent,
    InfoCategory,
    Purpose,
    RevocationDeferred,
    Signature,
    SignatureMethod,
    covers,
    record_disclosure,
    revoke,
)

SIGNED = date(2025, 2, 1)
TODAY = date(2025, 3, 1)
HOUSING_ORG = "org-st-patrick"


def consent(**changes: Any) -> Consent:
    fields: dict[str, Any] = dict(
        id="consent-1",
        agency_id="stl-cao",
        participant_id="p-1",
        participant_name="Jordan Doe",
        discloser="St. Louis CAO Diversion Unit",
        categories=frozenset({InfoCategory.CONTACT_INFO, InfoCategory.NEEDS_ASSESSMENT}),
        recipient_org_id=HOUSING_ORG,
        recipient_name="St. Patrick Center",
        purposes=frozenset({Purpose.SERVICE_REFERRAL}),
        right_to_revoke_acknowledged=True,
        revocation_instructions="Tell your case manager in writing.",
        expires_on=date(2025, 12, 31),
        signature=Signature(signed_by="Jordan Doe", method=SignatureMethod.ELECTRONIC, signed_on=SIGNED),
    )
    fields.update(changes)
    return Consent(**fields)


def criminal_justice_consent(**changes: Any) -> Consent:
    fields: dict[str, Any] = dict(
        id="cj-1",
        kind=ConsentKind.CRIMINAL_JUSTICE,
        recipient_org_id="stl-cao",
        recipient_name="St. Louis Circuit Attorney's Office",
        discloser="Places For People",
        categories=frozenset({InfoCategory.ATTENDANCE, InfoCategory.SUBSTANCE_USE_TREATMENT}),
        purposes=frozenset({Purpose.PROGRESS_MONITORING}),
        right_to_revoke_acknowledged=False,
        expires_on=None,
        expiry_event=DispositionEvent.FINAL_DISPOSITION,
        revocable_upon=DispositionEvent.FINAL_DISPOSITION,
    )
    fields.update(changes)
    return consent(**fields)


def ask(
    consents: list[Consent],
    *,
    recipient: str = HOUSING_ORG,
    categories: tuple[str, ...] = ("contact_info",),
    purpose: str = "service_referral",
    on: date = TODAY,
    disposed: bool = False,
) -> Any:
    return covers(consents, "p-1", recipient, categories, purpose, on, disposed)


def test_valid_consent_covers_and_carries_the_redisclosure_notice() -> None:
    coverage = ask([consent()], categories=("contact_info", "needs_assessment"))
    assert coverage.covered and coverage.consent_id == "consent-1" and coverage.code is CoverageCode.COVERED
    assert coverage.notice == REDISCLOSURE_NOTICE
    assert "42 CFR part 2" in coverage.notice and "NOT sufficient" in coverage.notice


def test_no_consent_on_record_is_not_covered() -> None:
    coverage = ask([consent(participant_id="someone-else")])
    assert (coverage.covered, coverage.code, coverage.consent_id) == (False, CoverageCode.NO_CONSENT, None)
    assert "p-1" in coverage.reason


def test_expired_consent_is_not_covered() -> None:
    coverage = ask([consent(expires_on=date(2025, 2, 28))])
    assert (coverage.covered, coverage.code) == (False, CoverageCode.EXPIRED)
    assert "2025-02-28" in coverage.reason
    assert ask([consent(expires_on=TODAY)]).covered  # valid through its last day


def test_consent_expiring_at_final_disposition_stops_covering_then() -> None:
    c = consent(expires_on=None, expiry_event=DispositionEvent.FINAL_DISPOSITION)
    assert ask([c]).covered
    assert ask([c], disposed=True).code is CoverageCode.EXPIRED


def test_revoked_consent_is_not_covered_from_the_revocation_date() -> None:
    revoked = revoke(consent(), on=date(2025, 2, 20), by="p-1", method="written", case_disposed=False)
    assert ask([revoked]).code is CoverageCode.REVOKED
    assert ask([revoked], on=date(2025, 2, 19)).covered  # what was done in reliance before stays lawful


@pytest.mark.parametrize(
    ("question", "code"),
    [
        ({"categories": ("contact_info", "mental_health")}, CoverageCode.CATEGORY_NOT_NAMED),
        ({"recipient": "org-other"}, CoverageCode.RECIPIENT_NOT_NAMED),
        ({"purpose": "care_coordination"}, CoverageCode.PURPOSE_NOT_NAMED),
    ],
    ids=["category", "recipient", "purpose"],
)
def test_too_narrow_consent_is_not_covered(question: dict[str, Any], code: CoverageCode) -> None:
    coverage = ask([consent()], **question)
    assert (coverage.covered, coverage.code) == (False, code)


def test_narrow_category_reason_names_what_is_missing() -> None:
    coverage = ask([consent()], categories=("mental_health", "contact_info", "attendance"))
    assert coverage.reason == "consent consent-1 does not cover: attendance, mental_health"


def test_unsigned_not_yet_effective_and_incomplete_consents_do_not_cover() -> None:
    assert ask([consent(signature=None)]).code is CoverageCode.UNSIGNED
    assert ask([consent(effective_on=date(2025, 4, 1))]).code is CoverageCode.NOT_YET_EFFECTIVE
    incomplete = ask([consent(right_to_revoke_acknowledged=False)])
    assert incomplete.code is CoverageCode.INCOMPLETE and "right to revoke" in incomplete.reason
    assert ask([consent(expires_on=None)]).code is CoverageCode.INCOMPLETE


def test_reason_comes_from_the_consent_closest_to_the_request() -> None:
    other_org = consent(id="c-other", recipient_org_id="org-other")
    expired_here = consent(id="c-here", expires_on=date(2025, 2, 10))
    coverage = ask([other_org, expired_here])
    assert (coverage.code, coverage.consent_id) == (CoverageCode.EXPIRED, "c-here")


def test_newest_covering_consent_is_cited() -> None:
    older = consent(id="c-old")
    newer = consent(
        id="c-new",
        signature=Signature(
            signed_by="Jordan Doe", method=SignatureMethod.WET_INK, signed_on=date(2025, 2, 15)
        ),
    )
    assert ask([newer, older]).consent_id == "c-new"


def test_criminal_justice_consent_cannot_be_revoked_before_disposition() -> None:
    with pytest.raises(RevocationDeferred) as caught:
        revoke(criminal_justice_consent(), on=TODAY, by="p-1", method="written", case_disposed=False)
    assert "final disposition" in str(caught.value) and "2.35" in str(caught.value)


def test_criminal_justice_consent_can_be_revoked_after_disposition() -> None:
    revoked = revoke(criminal_justice_consent(), on=TODAY, by="p-1", method="written", case_disposed=True)
    assert revoked.revoked_on == TODAY


def test_criminal_justice_consent_revocable_from_a_stated_date() -> None:
    c = criminal_justice_consent(revocable_upon=None, revocable_on=date(2025, 6, 1))
    with pytest.raises(RevocationDeferred, match="2025-06-01"):
        revoke(c, on=date(2025, 5, 31), by="p-1", method="written", case_disposed=False)
    assert revoke(c, on=date(2025, 6, 1), by="p-1", method="written", case_disposed=False).revoked_on


def test_criminal_justice_consent_covers_monitoring_until_disposition_with_use_restriction() -> None:
    cj = criminal_justice_consent()
    coverage = ask([cj], recipient="stl-cao", categories=("attendance",), purpose="progress_monitoring")
    assert coverage.covered
    assert coverage.notice is not None and CRIMINAL_JUSTICE_USE_RESTRICTION in coverage.notice
    dated = criminal_justice_consent(expiry_event=None, expires_on=date(2026, 12, 31))
    after = ask(
        [dated], recipient="stl-cao", categories=("attendance",), purpose="progress_monitoring", disposed=True
    )
    assert after.code is CoverageCode.EXPIRED  # never outlives the final disposition


def test_criminal_justice_consent_rules_are_enforced_on_the_form() -> None:
    with pytest.raises(ValidationError, match="progress_monitoring"):
        criminal_justice_consent(purposes=frozenset({Purpose.SERVICE_REFERRAL}))
    with pytest.raises(ValidationError, match="revocable"):
        criminal_justice_consent(revocable_upon=None)
    with pytest.raises(ValidationError, match="only a criminal-justice consent"):
        consent(revocable_upon=DispositionEvent.FINAL_DISPOSITION)


def test_standard_consent_can_be_revoked_any_time_and_revoking_twice_keeps_the_first() -> None:
    first = revoke(consent(), on=date(2025, 2, 10), by="p-1", method="written", case_disposed=False)
    again = revoke(first, on=date(2025, 2, 20), by="p-1", method="written", case_disposed=False)
    assert again.revoked_on == date(2025, 2, 10)


def test_disclosure_log_records_consent_and_notice_and_refuses_uncovered() -> None:
    at = datetime(2025, 3, 1, 10, 0)
    coverage = ask([consent()])
    row = record_disclosure(
        coverage,
        disclosure_id="d-1",
        agency_id="stl-cao",
        participant_id="p-1",
        recipient_org_id=HOUSING_ORG,
        categories=["contact_info"],
        purpose="service_referral",
        at=at,
        by="cm-1",
        subject_ref="sr-1",
    )
    assert (row.consent_id, row.notice, row.subject_ref) == ("consent-1", REDISCLOSURE_NOTICE, "sr-1")
    with pytest.raises(ConsentRequired) as caught:
        record_disclosure(
            ask([]),
            disclosure_id="d-2",
            agency_id="stl-cao",
            participant_id="p-1",
            recipient_org_id=HOUSING_ORG,
            categories=["contact_info"],
            purpose="service_referral",
            at=at,
            by="cm-1",
        )
    assert caught.value.coverage.code is CoverageCode.NO_CONSENT
