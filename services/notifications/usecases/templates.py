"""The agency's own text for notification templates (sandboxed Jinja2), checked by rendering a sample."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.models import TemplateOverride
from services.notifications.schemas import TemplateOverrideIn
from services.notifications.templates import (
    EMAIL_TEMPLATES,
    SMS_TEMPLATES,
    TemplateInvalid,
    TemplateMissing,
    TemplateRefused,
    TemplateRenderer,
)
from shared.http import NotFound, UnprocessableContent

SAMPLE_CONTEXT: dict[str, dict[str, Any]] = {
    "appointment_reminder": {
        "first_name": "Ana", "place": "1114 Market St", "agency_name": "Diversion Program",
        "appointment_at": dt.datetime(2030, 3, 4, 14, 30, tzinfo=dt.UTC), "contact_phone": "314-555-0100",
    },
    "staff_new_assignment": {"case_ref": "case-1", "link": "https://example.org/cases/case-1",
                             "program_name": "Young adult"},
    "staff_service_referral_rejected": {"organization_name": "Org", "service_name": "Housing",
                                        "case_ref": "case-1", "reason": "full", "link": "https://example.org"},
    "staff_escalation": {"organization_name": "Org", "service_name": "Housing", "case_ref": "case-1",
                         "waiting_days": 3, "link": "https://example.org"},
    "staff_checkin_overdue": {"case_ref": "case-1", "days_overdue": 2, "link": "https://example.org",
                              "due_at": dt.datetime(2030, 3, 4, 14, 30, tzinfo=dt.UTC)},
    "staff_contact_overdue": {"case_ref": "case-1", "link": None,
                              "last_contact_at": dt.datetime(2030, 2, 1, 14, 30, tzinfo=dt.UTC),
                              "due_at": dt.datetime(2030, 3, 4, 14, 30, tzinfo=dt.UTC)},
    "staff_end_approaching": {"case_ref": "case-1", "link": None, "expected_end": dt.date(2030, 4, 1),
                              "days_left": 28},
    "staff_plan_updated": {"case_ref": "case-1", "link": None, "plan_version": 3, "change": "goal_added",
                           "goals_total": 4, "goals_completed": 1},
    "staff_delivery_failed": {"case_ref": "case-1", "link": None, "referral_ref": "sr-1", "organization_name": "Org",
                              "attempts": 10, "reason": "HTTP 503"},
}


def put_override(session: Session, agency: str, name: str, body: TemplateOverrideIn, actor: str,
                 now: dt.datetime) -> TemplateOverride:
    """Save one part of a template in one language, once it renders the sample context."""
    allowed_parts = (("sms",) if name in SMS_TEMPLATES else ()) + (
        ("subject", "txt", "html") if name in EMAIL_TEMPLATES else ())
    if not allowed_parts:
        raise NotFound(f"no template {name!r}")
    if body.part not in allowed_parts:
        raise UnprocessableContent(f"template {name!r} has the parts {', '.join(allowed_parts)}", errors=[
            {"field": "part", "message": f"one of {', '.join(allowed_parts)}", "type": "enum"}])
    key = f"{body.language}/{name}.{body.part}"
    try:
        TemplateRenderer({agency: {key: body.source}}).render(key, SAMPLE_CONTEXT[name], agency)
    except (TemplateInvalid, TemplateRefused, TemplateMissing) as exc:
        raise UnprocessableContent(str(exc), slug="template-invalid", errors=[
            {"field": "source", "message": str(exc)[:500], "type": "template"}]) from None
    row = session.scalars(select(TemplateOverride).where(
        TemplateOverride.agency_id == agency, TemplateOverride.key == key).with_for_update()).first()
    if row is None:
        row = TemplateOverride(agency_id=agency, key=key, version=0)
        session.add(row)
    row.source, row.version, row.updated_at, row.updated_by = body.source, row.version + 1, now, actor
    return row


def overrides(session: Session, agency: str, name: str) -> list[TemplateOverride]:
    """The agency's overrides of a template, by key (parts not listed use the built-in text)."""
    if name not in SMS_TEMPLATES and name not in EMAIL_TEMPLATES:
        raise NotFound(f"no template {name!r}")
    rows = session.scalars(select(TemplateOverride).where(TemplateOverride.agency_id == agency)).all()
    return [row for row in sorted(rows, key=lambda r: r.key) if row.key.split("/", 1)[1].rsplit(".", 1)[0] == name]
