"""Appointment kinds as data, the fields each kind requires, and rescheduling and cancelling.

An appointment's kind used to be free text. The kinds are now a table (`KINDS`): each names the extra
fields it requires. A court hearing must say which court, which division and the docket number, so the
case timeline can show the hearing and staff can find it; the other kinds take none of those fields.
Old free-text kinds were mapped onto this table by casework's migration 0013 (the text kept in
`kind_label`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from services.casework.domain.lifecycle import CaseworkError


class AppointmentKind(StrEnum):
    CHECK_IN = "check_in"  # with the case manager
    SERVICE_VISIT = "service_visit"  # at a partner's service
    COURT_HEARING = "court_hearing"  # court, division and docket number required
    DRUG_TEST = "drug_test"
    MEETING = "meeting"  # any other meeting with the participant (the default)


COURT_FIELDS = ("court", "division", "docket_number")


@dataclass(frozen=True)
class KindSpec:
    kind: AppointmentKind
    label: str  # what a reminder or a timeline calls it
    requires: tuple[str, ...] = ()


KINDS: dict[AppointmentKind, KindSpec] = {
    spec.kind: spec for spec in (
        KindSpec(AppointmentKind.CHECK_IN, "check-in"),
        KindSpec(AppointmentKind.SERVICE_VISIT, "service visit"),
        KindSpec(AppointmentKind.COURT_HEARING, "court hearing", requires=COURT_FIELDS),
        KindSpec(AppointmentKind.DRUG_TEST, "drug test"),
        KindSpec(AppointmentKind.MEETING, "meeting"),
    )
}

# The spellings clients sent while the kind was free text (e.g. the demo's "check-in").
ALIASES = {
    "check-in": AppointmentKind.CHECK_IN, "checkin": AppointmentKind.CHECK_IN, "check in": AppointmentKind.CHECK_IN,
    "service-visit": AppointmentKind.SERVICE_VISIT, "service visit": AppointmentKind.SERVICE_VISIT,
    "court": AppointmentKind.COURT_HEARING, "hearing": AppointmentKind.COURT_HEARING,
    "court-hearing": AppointmentKind.COURT_HEARING, "court hearing": AppointmentKind.COURT_HEARING,
    "drug-test": AppointmentKind.DRUG_TEST, "drug test": AppointmentKind.DRUG_TEST,
    "ua": AppointmentKind.DRUG_TEST, "urinalysis": AppointmentKind.DRUG_TEST,
}


def kind_of(text: str) -> AppointmentKind | None:
    """The kind a client's (or an old row's) text names, or None when it names none."""
    value = text.strip().lower()
    try:
        return AppointmentKind(value)
    except ValueError:
        return ALIASES.get(value)


class AppointmentFieldsInvalid(CaseworkError):
    """The appointment's kind-specific fields are missing or do not belong to its kind."""

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.errors = errors


class AppointmentNotChangeable(CaseworkError):
    """Only a scheduled appointment can be rescheduled or cancelled."""


def check_kind_fields(kind: AppointmentKind, fields: dict[str, str | None]) -> None:
    """Every field the kind requires is present and no court field is given for another kind."""
    requires = KINDS[kind].requires
    errors = [{"field": name, "message": f"required for a {KINDS[kind].label}", "type": "missing"}
              for name in requires if not fields.get(name)]
    errors += [{"field": name, "message": f"only a court hearing has a {name}", "type": "extra_forbidden"}
               for name in COURT_FIELDS if name not in requires and fields.get(name)]
    if errors:
        missing = [e["field"] for e in errors if e["type"] == "missing"]
        message = (f"a {KINDS[kind].label} needs {', '.join(missing)}" if missing
                   else f"a {KINDS[kind].label} has no court fields")
        raise AppointmentFieldsInvalid(message, errors)


@dataclass(frozen=True)
class Slot:
    """When and where an appointment is: what a reschedule changes."""

    starts_at: datetime
    ends_at: datetime | None
    location: str | None


def reschedule(status: str, current: Slot, starts_at: datetime | None, ends_at: datetime | None,
               location: str | None, *, clear_end: bool = False) -> Slot:
    """The new slot (times in UTC); refused unless the appointment is still scheduled or if it would end
    at or before it starts. Fields left None keep their value; a new start without a new end keeps the
    length of an appointment that had one."""
    if status != "scheduled":
        raise AppointmentNotChangeable(f"the appointment is {status}; only a scheduled one can be changed")
    start = (starts_at or current.starts_at).astimezone(UTC)
    if ends_at is not None:
        end: datetime | None = ends_at.astimezone(UTC)
    elif clear_end or current.ends_at is None:
        end = None
    else:
        end = start + (current.ends_at - current.starts_at)
    if end is not None and end <= start:
        raise AppointmentFieldsInvalid("an appointment ends after it starts", [
            {"field": "ends_at", "message": "must be after starts_at", "type": "value_error"}])
    return Slot(starts_at=start, ends_at=end, location=location if location is not None else current.location)


def cancel(status: str) -> str:
    """The status a cancellation leaves (refused unless the appointment is still scheduled)."""
    if status != "scheduled":
        raise AppointmentNotChangeable(f"the appointment is {status}; only a scheduled one can be cancelled")
    return "cancelled"
