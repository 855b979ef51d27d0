"""Corrections of staff and participants: PATCH with history, `staff.updated`, and the rule for events.

Every saved change is a new version and one `change_history` row (who, when, the fields old -> new). A
participant's fields staff corrected are listed in `staff_set_fields`; `apply_event_fields` (for handlers
that carry participant data) never overwrites them and bumps the version whenever it changes the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain.corrections import (
    Change,
    FieldChange,
    diff,
    from_event,
    staff_set_after,
)
from services.casework.models import ChangeRecord, Participant, Staff
from services.casework.schemas_corrections import ParticipantPatch, StaffPatch
from services.casework.usecases import staff_events
from services.casework.usecases.common import emit_data
from shared.messaging import Emit
from shared.messaging.catalog import StaffUpdated

STAFF_FIELDS = ("name", "email", "phone", "active", "caseload_cap", "programs")
PARTICIPANT_FIELDS = ("phone", "email", "preferred_language", "address_line1", "address_line2", "city", "region",
                      "postal_code")


def _current(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in fields}


def _wanted(body: StaffPatch | ParticipantPatch) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    for name in type(body).model_fields:
        if name in body.model_fields_set:
            value = getattr(body, name)
            wanted[name] = str(value).lower() if name == "email" and value is not None else value
    return wanted


def _record(session: Session, agency: str, resource_type: str, resource_id: str, version: int,
            changes: list[FieldChange], *, by: str, now: datetime) -> None:
    session.add(ChangeRecord(agency_id=agency, resource_type=resource_type, resource_id=resource_id,
                             version=version, changed_at=now, changed_by=by,
                             changes=[c.model_dump(mode="json") for c in changes]))


def patch_staff(session: Session, emit: Emit, member: Staff, body: StaffPatch, *, actor: str,
                now: datetime) -> list[FieldChange]:
    """Apply a correction; nothing (no version, no event) when it changes nothing."""
    changes = diff(_current(member, STAFF_FIELDS), _wanted(body))
    if not changes:
        return []
    for change in changes:
        setattr(member, change.field, change.new)
        if change.field == "active":
            member.deactivated_at = None if change.new else now
    member.version += 1
    _record(session, member.agency_id, "staff", member.id, member.version, changes, by=actor, now=now)
    session.flush()
    emit_data(emit, staff_updated(member, [c.field for c in changes], now), subject=member.id,
              agency=member.agency_id)
    return changes


def staff_updated(member: Staff, changed: list[str], now: datetime) -> StaffUpdated:
    """The corrected directory entry: the fields staff.registered carries, and what changed."""
    return StaffUpdated(**staff_events.directory_fields(member), programs=list(member.programs),
                        caseload_cap=member.caseload_cap, version=member.version, changed_fields=changed,
                        updated_at=now)


def patch_participant(session: Session, person: Participant, body: ParticipantPatch, *, actor: str,
                      now: datetime) -> list[FieldChange]:
    """Apply staff's correction; the fields changed become staff-set (events leave them alone)."""
    changes = diff(_current(person, PARTICIPANT_FIELDS), _wanted(body))
    if not changes:
        return []
    for change in changes:
        setattr(person, change.field, change.new)
    person.staff_set_fields = staff_set_after(person.staff_set_fields or [], changes)
    person.version += 1
    person.updated_at = now
    _record(session, person.agency_id, "participant", person.id, person.version, changes, by=actor, now=now)
    session.flush()
    return changes


def apply_event_fields(session: Session, person: Participant, offered: Mapping[str, Any], *, source: str,
                       now: datetime) -> list[FieldChange]:
    """What an event handler calls to update a participant: staff-set fields are kept, a change bumps the
    version and is in the history under `source` (the event's type)."""
    allowed = from_event(_current(person, PARTICIPANT_FIELDS),
                         {k: v for k, v in offered.items() if k in PARTICIPANT_FIELDS}, person.staff_set_fields or [])
    changes = diff(_current(person, PARTICIPANT_FIELDS), allowed)
    if not changes:
        return []
    for change in changes:
        setattr(person, change.field, change.new)
    person.version += 1
    person.updated_at = now
    _record(session, person.agency_id, "participant", person.id, person.version, changes, by=source, now=now)
    session.flush()
    return changes


def history(session: Session, agency: str, resource_type: str, resource_id: str) -> list[Change]:
    """A record's corrections, oldest first."""
    rows = session.scalars(select(ChangeRecord).where(
        ChangeRecord.agency_id == agency, ChangeRecord.resource_type == resource_type,
        ChangeRecord.resource_id == resource_id).order_by(ChangeRecord.id))
    return [Change(version=row.version, changed_at=row.changed_at, changed_by=row.changed_by,
                   changes=tuple(FieldChange.model_validate(c) for c in row.changes)) for row in rows]
