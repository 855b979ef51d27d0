"""Corrections of staff and participant records: what changed, what events may still change, who sees what.

Staff correct a record through PATCH; an event (an appointment, a referral) may carry the same fields. The
rule: a field staff set is theirs, and an event never overwrites it; any change, staff's or an event's,
is a new version and a history entry naming the fields with their old and new values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

REDACTED = "[redacted]"


class FieldChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    old: Any = None
    new: Any = None


class Change(BaseModel):
    """One saved correction: the version it produced, who and when, the fields."""

    model_config = ConfigDict(frozen=True)

    version: int
    changed_at: datetime
    changed_by: str
    changes: tuple[FieldChange, ...]


def diff(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[FieldChange]:
    """The fields of `wanted` whose value differs from `current`, in `wanted`'s order."""
    return [FieldChange(field=name, old=current.get(name), new=value)
            for name, value in wanted.items() if current.get(name) != value]


def from_event(current: Mapping[str, Any], offered: Mapping[str, Any], staff_set: Iterable[str]) -> dict[str, Any]:
    """What an event may change: the fields it offers (not None) that staff did not set and that differ."""
    kept = set(staff_set)
    return {name: value for name, value in offered.items()
            if value is not None and name not in kept and current.get(name) != value}


def staff_set_after(staff_set: Iterable[str], changes: Iterable[FieldChange]) -> list[str]:
    """The staff-set fields once staff saved `changes` (sorted, each once)."""
    return sorted(set(staff_set) | {change.field for change in changes})


def visible(change: Change, *, may_see_values: bool) -> Change:
    """The entry as a reader sees it: the fields always, their values only when the reader may see them."""
    if may_see_values:
        return change
    return change.model_copy(update={"changes": tuple(
        FieldChange(field=c.field, old=REDACTED if c.old is not None else None,
                    new=REDACTED if c.new is not None else None) for c in change.changes)})
