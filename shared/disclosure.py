"""Disclosure as data, in one place (ADR 0070): what each field is, what a partner may receive, and how.

- **Classification**: every field of a record that can leave the suite has an information class
  (`FIELD_CLASSES`); `derive_categories` turns a record's non-empty fields into the consent categories
  (casework's `InfoCategory` vocabulary) a disclosure of it needs. The server derives them; categories a
  caller declares are ignored. Substance-use needs and assessment domains are 42 CFR Part 2 information
  and need a consent naming `substance_use_treatment`; free text takes the most sensitive class of its
  record.
- **Projection**: `project` is the one partner projection, used by resources' partner API view and, through
  the `partner_view` every partner-bound event carries, by notifications' webhooks and AMQP feed. A
  `SharingProfile` (per agency and partner organization, resources' `/v1/sharing-profiles/<org>`) names the
  fields; `DEFAULT_PROFILE` is the safe default. `NEVER_LEAVE` fields can never be named by a profile.
- **Notice**: every projected body carries the 42 CFR 2.32 notice (`REDISCLOSURE_NOTICE`).
- **Consent snapshot**: `snapshot_covers` judges a local copy of consents (notifications keeps one from
  casework's consent.recorded / revoked / expired events) at the moment of sending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

# §2.32(a)(1), "Statement 1" as amended by the 2024 final rule (89 FR 12472). Legally required wording:
# keep it verbatim; verify against the eCFR when the rule is amended again.
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by Federal confidentiality rules "
    "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or testimony that "
    "describes the information contained in this record, in any civil, criminal, administrative, or "
    "legislative proceedings by any Federal, State, or local authority, against the patient, unless "
    "authorized by the consent of the patient, except as provided at 42 CFR 2.12(c)(5) or as authorized "
    "by a court in accordance with 42 CFR 2.64 or 2.65. In addition, the Federal rules prohibit you from "
    "making any other use or disclosure of this record unless at least one of the following applies: "
    "(A) Further use or disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed in this record or as otherwise permitted by 42 CFR part 2. "
    "(B) You are a covered entity or business associate and have received the record for treatment, "
    "payment, or health care operations, or "
    "(C) You have received the record from a covered entity or business associate as permitted by "
    "45 CFR part 164, subparts A and E. "
    "A general authorization for the release of medical or other information is NOT sufficient to meet "
    "the required elements of written consent to further use or redisclose the record (see 42 CFR 2.31)."
)
NOTICE_FIELD = "redisclosure_notice"


class FieldClass(StrEnum):
    """The information class of a field (the issue's classification)."""

    CONTACT_INFO = "contact_info"
    DEMOGRAPHICS = "demographics"
    NEED_CATEGORY = "need_category"
    NEED_TEXT = "need_text"  # free text: the most sensitive class of its record
    ASSESSMENT_DOMAINS = "assessment_domains"  # Part 2
    CRIMINAL_JUSTICE = "criminal_justice"
    CASE_NOTES = "case_notes"
    REFERRAL = "referral"  # ids, service, status and times of the referral itself: no personal information


# Consent categories (casework's InfoCategory values).
CONTACT = "contact_info"
NEEDS = "needs_assessment"
SUBSTANCE_USE = "substance_use_treatment"  # 42 CFR Part 2
MENTAL_HEALTH = "mental_health"
CRIMINAL_JUSTICE = "criminal_justice_status"
PLAN = "plan_goals"
PART_2 = frozenset({SUBSTANCE_USE})

FIELD_CLASSES: dict[str, FieldClass] = {
    "participant_first_name": FieldClass.CONTACT_INFO, "participant_name": FieldClass.CONTACT_INFO,
    "contact": FieldClass.CONTACT_INFO, "phone": FieldClass.CONTACT_INFO, "email": FieldClass.CONTACT_INFO,
    "preferred_language": FieldClass.CONTACT_INFO, "appointment_preference": FieldClass.CONTACT_INFO,
    "date_of_birth": FieldClass.DEMOGRAPHICS, "gender": FieldClass.DEMOGRAPHICS, "race": FieldClass.DEMOGRAPHICS,
    "ethnicity": FieldClass.DEMOGRAPHICS, "address": FieldClass.DEMOGRAPHICS,
    "need_category": FieldClass.NEED_CATEGORY, "need": FieldClass.NEED_TEXT,
    "assessment_domains": FieldClass.ASSESSMENT_DOMAINS,
    "charges": FieldClass.CRIMINAL_JUSTICE, "criminal_history": FieldClass.CRIMINAL_JUSTICE,
    "case_number": FieldClass.CRIMINAL_JUSTICE, "docket": FieldClass.CRIMINAL_JUSTICE,
    "note": FieldClass.CASE_NOTES, "internal_note": FieldClass.CASE_NOTES,
    **{name: FieldClass.REFERRAL for name in (
        "service_referral_id", "service_id", "organization_id", "status", "previous_status", "reason_code",
        "requested_at", "respond_by", "changed_at", "escalated_at")},
}
CLASS_CATEGORIES: dict[FieldClass, frozenset[str]] = {
    FieldClass.CONTACT_INFO: frozenset({CONTACT}), FieldClass.DEMOGRAPHICS: frozenset({CONTACT}),
    FieldClass.ASSESSMENT_DOMAINS: frozenset({NEEDS, SUBSTANCE_USE}),
    FieldClass.CRIMINAL_JUSTICE: frozenset({CRIMINAL_JUSTICE}), FieldClass.CASE_NOTES: frozenset({PLAN}),
    FieldClass.REFERRAL: frozenset(),
}
# Need categories (directory slugs) whose mere naming is sensitive information.
NEED_CATEGORY_CATEGORIES: dict[str, frozenset[str]] = {
    "substance_use": frozenset({NEEDS, SUBSTANCE_USE}),
    "mental_health_crisis": frozenset({NEEDS, MENTAL_HEALTH}),
}

# Fields that never leave the suite to a partner, whatever a profile says.
NEVER_LEAVE = frozenset({
    "charges", "criminal_history", "case_number", "docket", "note", "internal_note", "case_id", "participant_id",
    "person_id", "consent_id", "changed_by", "requested_by", "case_manager", "staff_id", "staff_login",
    "disclosure", "partner", "partner_view",
})
# What a profile may name.
PARTNER_FIELDS = frozenset({
    "service_referral_id", "service_id", "organization_id", "status", "previous_status", "reason_code",
    "participant_first_name", "participant_name", "contact", "need_category", "need", "appointment_preference",
    "requested_at", "respond_by", "changed_at", "escalated_at",
})
REQUIRED_FIELDS = frozenset({"service_referral_id", "status"})
CONTACT_METHODS = frozenset({"phone", "email"})
PARTNER_EVENT_TYPES = ("service_referral.requested", "service_referral.status_changed", "service_referral.escalated")


def _present(value: Any) -> bool:
    return value not in (None, "", [], {}, ())


def _need_categories(record: Mapping[str, Any]) -> frozenset[str]:
    slug = record.get("need_category")
    if not _present(slug):
        return frozenset()
    return NEED_CATEGORY_CATEGORIES.get(str(slug), frozenset({NEEDS}))


def derive_categories(record: Mapping[str, Any]) -> list[str]:
    """The consent categories a disclosure of `record`'s non-empty fields needs, sorted."""
    found: set[str] = set()
    most_sensitive = set(_need_categories(record))
    if _present(record.get("assessment_domains")):
        most_sensitive |= CLASS_CATEGORIES[FieldClass.ASSESSMENT_DOMAINS]
    for name, value in record.items():
        cls = FIELD_CLASSES.get(name)
        if cls is None or not _present(value):
            continue
        if cls is FieldClass.NEED_CATEGORY:
            found |= _need_categories(record)
        elif cls is FieldClass.NEED_TEXT:  # free text: the most sensitive class of its record
            found |= most_sensitive or {NEEDS}
        else:
            found |= CLASS_CATEGORIES[cls]
    return sorted(found)


def needs_part_2(categories: Iterable[str]) -> bool:
    return bool(PART_2 & set(categories))


class ProfileInvalid(ValueError):
    """A sharing profile naming an unknown or never-leave field (HTTP 422)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        self.problem_errors = errors  # shared.http.problems passes them on as the problem's `errors`
        super().__init__("; ".join(e["message"] for e in errors))


@dataclass(frozen=True)
class SharingProfile:
    """Which fields one partner organization receives from one agency."""

    fields: frozenset[str]
    contact_methods: frozenset[str] = field(default=CONTACT_METHODS)

    @classmethod
    def of(cls, fields: Iterable[str], contact_methods: Iterable[str] = CONTACT_METHODS) -> SharingProfile:
        """A validated profile; `ProfileInvalid` names every field it cannot have."""
        names, methods = list(fields), list(contact_methods)
        errors = [{"field": "fields", "message": f"{n} never leaves the suite", "type": "never_leaves"}
                  for n in names if n in NEVER_LEAVE]
        errors += [{"field": "fields", "message": f"{n} is not a partner field", "type": "unknown"}
                   for n in names if n not in NEVER_LEAVE and n not in PARTNER_FIELDS]
        errors += [{"field": "fields", "message": f"{n} is always shared", "type": "required"}
                   for n in sorted(REQUIRED_FIELDS - set(names))]
        errors += [{"field": "contact_methods", "message": f"{m} is not a contact method", "type": "unknown"}
                   for m in methods if m not in CONTACT_METHODS]
        if errors:
            raise ProfileInvalid(errors)
        return cls(frozenset(names), frozenset(methods))


DEFAULT_PROFILE = SharingProfile(frozenset({
    "service_referral_id", "service_id", "status", "participant_first_name", "contact", "need_category"}))


def first_name(full_name: Any) -> str | None:
    parts = str(full_name or "").split()
    return parts[0] if parts else None


def partner_record(data: Mapping[str, Any]) -> dict[str, Any]:
    """One flat record from an event's `data` or a referral row's fields (the nested `partner` payload of
    `service_referral.requested` is lifted up; `participant_first_name` derived from the name)."""
    record = {k: v for k, v in data.items() if k not in ("partner", "partner_view", "disclosure")}
    nested = data.get("partner")
    if isinstance(nested, Mapping):
        for key, value in nested.items():
            record.setdefault(key, value)
    contact = record.get("contact")
    if isinstance(contact, Mapping):
        for key in ("phone", "email", "preferred_language"):
            record.setdefault(key, contact.get(key))
    if not _present(record.get("participant_first_name")):
        record["participant_first_name"] = first_name(record.get("participant_name"))
    return record


def _contact(record: Mapping[str, Any], profile: SharingProfile, allowed: frozenset[str] | None) -> Any:
    if allowed is not None and CONTACT not in allowed:
        return None
    methods = {m: record.get(m) for m in sorted(profile.contact_methods) if _present(record.get(m))}
    if not methods:
        return None
    return {**methods, "preferred_language": record.get("preferred_language") or "en"}


def project(data: Mapping[str, Any], profile: SharingProfile = DEFAULT_PROFILE,
            allowed_categories: Iterable[str] | None = None) -> dict[str, Any]:
    """The one partner projection: exactly the profile's fields (null when the record has none) and the
    §2.32 notice. `allowed_categories` (the covering consent's) withholds contact details it does not name."""
    record = partner_record(data)
    allowed = frozenset(allowed_categories) if allowed_categories is not None else None
    body: dict[str, Any] = {}
    for name in sorted(profile.fields - NEVER_LEAVE):
        body[name] = _contact(record, profile, allowed) if name == "contact" else record.get(name)
    body[NOTICE_FIELD] = REDISCLOSURE_NOTICE
    return body


def partner_envelope(envelope: Mapping[str, Any], view: Mapping[str, Any]) -> dict[str, Any]:
    """A partner's copy of an event envelope: its data replaced by the projected view (never the event)."""
    return {**{k: v for k, v in envelope.items() if k != "data"}, "data": dict(view)}


# ---------------------------------------------------------------- consent snapshots (send-time check)


@dataclass(frozen=True)
class ConsentSnapshot:
    """What a service outside casework knows of one consent, from casework's consent events."""

    consent_id: str
    person_key: str  # the person's id across linked participant records (participant id when alone)
    recipient_org_id: str
    categories: frozenset[str]
    purposes: frozenset[str]
    valid: bool  # all §2.31 elements present and signed when recorded
    effective_on: date | None = None
    expires_on: date | None = None
    revoked_on: date | None = None
    expired: bool = False  # consent.expired (an expiry event, a disposition)


def _snapshot_reason(c: ConsentSnapshot, org: str, purpose: str, wanted: frozenset[str], today: date) -> str | None:
    if c.recipient_org_id != org:
        return f"consent {c.consent_id} does not name recipient {org}"
    if purpose not in c.purposes:
        return f"consent {c.consent_id} does not cover the purpose {purpose}"
    missing = sorted(wanted - c.categories)
    if missing:
        return f"consent {c.consent_id} does not cover: {', '.join(missing)}"
    if not c.valid:
        return f"consent {c.consent_id} is incomplete or unsigned"
    if c.effective_on is not None and today < c.effective_on:
        return f"consent {c.consent_id} takes effect on {c.effective_on.isoformat()}"
    if c.revoked_on is not None and today >= c.revoked_on:
        return f"consent {c.consent_id} was revoked on {c.revoked_on.isoformat()}"
    if c.expired or (c.expires_on is not None and today > c.expires_on):
        return f"consent {c.consent_id} expired"
    return None


def snapshot_covers(snapshots: Iterable[ConsentSnapshot], consent_id: str | None, org: str, purpose: str,
                    categories: Iterable[str], today: date) -> tuple[bool, str | None, str]:
    """(covered, covering consent id, reason). The consent the disclosure named, or any other consent of the
    same person (linked records' consents carry over), must cover org, purpose and categories today."""
    wanted = frozenset(categories)
    pool = list(snapshots)
    named = next((c for c in pool if c.consent_id == consent_id), None)
    if named is None:
        return False, None, f"no consent {consent_id or ''} on record here".replace("  ", " ")
    for c in sorted(pool, key=lambda c: c.consent_id != consent_id):
        if c.person_key == named.person_key and _snapshot_reason(c, org, purpose, wanted, today) is None:
            return True, c.consent_id, f"covered by consent {c.consent_id}"
    return False, None, _snapshot_reason(named, org, purpose, wanted, today) or "not covered"
