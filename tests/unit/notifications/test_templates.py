"""Message templates: en/es defaults, agency overrides, escaping and the sandbox."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.notifications.templates import (
    EMAIL_TEMPLATES,
    TemplateInvalid,
    TemplateMissing,
    TemplateRefused,
    TemplateRenderer,
    load_overrides_from_folder,
)

CHICAGO = ZoneInfo("America/Chicago")
REMINDER: dict[str, Any] = {
    "first_name": "Ana",
    "appointment_at": datetime(2025, 3, 4, 14, 30, tzinfo=CHICAGO),
    "place": "1114 Market St, Room 401",
    "agency_name": "Circuit Attorney's Office",
}
STAFF: dict[str, dict[str, Any]] = {
    "appointment_reminder": REMINDER,
    "staff_new_assignment": {"case_ref": "CASE-0042", "link": "https://diversion.example/cases/42"},
    "staff_service_referral_rejected": {
        "case_ref": "CASE-0042",
        "service_name": "Transitional housing",
        "organization_name": "Haven House",
        "reason": "No beds",
        "link": "https://diversion.example/cases/42",
    },
    "staff_escalation": {
        "case_ref": "CASE-0042",
        "service_name": "Job readiness",
        "organization_name": "Work Inc",
        "waiting_days": 5,
        "link": "https://diversion.example/cases/42",
    },
    "staff_checkin_overdue": {
        "case_ref": "CASE-0042",
        "due_at": datetime(2025, 3, 3, 10, 0, tzinfo=CHICAGO),
        "days_overdue": 1,
        "link": "https://diversion.example/cases/42",
    },
    "staff_contact_overdue": {
        "case_ref": "CASE-0042",
        "last_contact_at": None,
        "due_at": datetime(2025, 3, 3, 10, 0, tzinfo=CHICAGO),
        "link": None,
    },
    "staff_end_approaching": {"case_ref": "CASE-0042", "expected_end": "2025-04-01", "days_left": 1,
                              "link": "https://diversion.example/cases/42"},
    "staff_plan_updated": {"case_ref": "CASE-0042", "plan_version": 2, "change": None, "goals_total": 3,
                           "goals_completed": 1, "link": None},
    "staff_delivery_failed": {"case_ref": None, "referral_ref": "SR-7", "organization_name": "Haven House",
                              "attempts": 10, "reason": "HTTP 503", "link": None},
}


def test_reminder_sms_in_english_has_first_name_time_place_and_opt_out() -> None:
    text = TemplateRenderer().render_sms("appointment_reminder", REMINDER, language="en")
    assert "Ana" in text and "Tuesday, March 4 at 2:30 PM" in text and "1114 Market St" in text
    assert "Reply STOP" in text


def test_reminder_sms_in_spanish_for_a_regional_spanish_preference() -> None:
    text = TemplateRenderer().render_sms("appointment_reminder", REMINDER, language="es-MX")
    assert "Hola Ana" in text and "martes 4 de marzo a las 14:30" in text


def test_unknown_language_falls_back_to_english() -> None:
    email = TemplateRenderer().render_email("appointment_reminder", REMINDER, language="fr")
    assert email.language == "en" and email.subject.startswith("Reminder")


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("name", EMAIL_TEMPLATES)
def test_every_default_email_renders_in_both_languages(name: str, language: str) -> None:
    email = TemplateRenderer().render_email(name, STAFF[name], language=language)
    assert email.language == language
    assert email.subject and email.text and email.html.startswith("<!doctype html>")
    assert "\n" not in email.subject


def test_html_part_escapes_values_but_text_part_keeps_them() -> None:
    context = {**REMINDER, "first_name": "<script>alert(1)</script>"}
    email = TemplateRenderer().render_email("appointment_reminder", context)
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert "<script>" in email.text


def test_reminder_context_needs_no_charges_or_last_name() -> None:
    # StrictUndefined: the defaults would fail loudly if they used anything beyond this context.
    email = TemplateRenderer().render_email("appointment_reminder", REMINDER)
    assert "Ana" in email.text


def test_missing_value_is_a_clear_error_not_a_blank() -> None:
    without_place = {key: value for key, value in REMINDER.items() if key != "place"}
    with pytest.raises(TemplateInvalid, match="place"):
        TemplateRenderer().render_sms("appointment_reminder", without_place)


def test_agency_override_replaces_a_default_and_others_fall_back() -> None:
    renderer = TemplateRenderer(
        overrides={
            "stl": {
                "en/appointment_reminder.sms": "STL: {{ first_name }}, see you {{ appointment_at|when }}."
            }
        }
    )
    assert renderer.render_sms("appointment_reminder", REMINDER, agency="stl") == (
        "STL: Ana, see you Tuesday, March 4 at 2:30 PM."
    )
    # Other agencies and other languages keep the defaults.
    assert "Reply STOP" in renderer.render_sms("appointment_reminder", REMINDER, agency="kc")
    assert "Hola Ana" in renderer.render_sms("appointment_reminder", REMINDER, language="es", agency="stl")


def test_overrides_load_from_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "stl" / "es"
    folder.mkdir(parents=True)
    (folder / "appointment_reminder.sms.j2").write_text("Cita: {{ first_name }}", encoding="utf-8")
    renderer = TemplateRenderer(overrides=load_overrides_from_folder(tmp_path))
    assert renderer.render_sms("appointment_reminder", REMINDER, language="es", agency="stl") == "Cita: Ana"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ first_name.__class__ }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_sandbox_escape_attempt_in_an_override_is_refused(source: str) -> None:
    renderer = TemplateRenderer(overrides={"evil": {"en/appointment_reminder.sms": source}})
    with pytest.raises(TemplateRefused, match="unsafe"):
        renderer.render_sms("appointment_reminder", REMINDER, agency="evil")


def test_override_with_a_syntax_error_is_refused_when_loaded() -> None:
    with pytest.raises(TemplateInvalid, match="stl"):
        TemplateRenderer(overrides={"stl": {"en/appointment_reminder.sms": "{{ first_name "}})


def test_unknown_template_is_reported() -> None:
    with pytest.raises(TemplateMissing):
        TemplateRenderer().render("en/no_such_template.sms", {})
