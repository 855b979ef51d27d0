"""The appointment.scheduled handler keeps a language staff chose and bumps the version when it changes the row.

The bug: a staff member set a participant's language to `es`; the next appointment event (which carries the
catalog's default `en`) put `en` back without changing the version, so the staff member's ETag still matched.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from notifications_events import appointment
from notifications_support import publish, wait_for

from tests.conftest import make_token

CHICAGO = ZoneInfo("America/Chicago")
APPOINTMENT = datetime(2031, 3, 6, 15, 0, tzinfo=CHICAGO)


def _preference(api, token: str, case_id: str):
    return api.get(f"/v1/contact-preferences/{case_id}", token=token)


def test_the_appointment_event_keeps_the_staff_language_and_bumps_the_version(notifications, agency):
    api = notifications()
    token = make_token(agency, ("case_manager",))
    case_id = f"case-lang-{agency[-6:]}"
    publish(appointment(agency, APPOINTMENT, phone="+13145550111", case_id=case_id, preferred_language="en"))
    first = wait_for(lambda: (r := _preference(api, token, case_id)).status_code == 200 and r,
                     what="the contact preferences from the first event")
    assert first.json()["language"] == "en" and first.json()["has_email"] is False
    saved = api.request("PUT", f"/v1/contact-preferences/{case_id}", token=token,
                        json={"language": "es", "do_not_contact": False}, headers={"If-Match": first.headers["ETag"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["language"] == "es"
    staff_version = saved.json()["version"]

    # The next appointment carries the default language `en` and, new, an email address: the row changes.
    publish(appointment(agency, APPOINTMENT.replace(day=13), phone="+13145550111", email="p@example.org",
                        case_id=case_id))
    after = wait_for(lambda: (r := _preference(api, token, case_id)).json()["has_email"] and r,
                     what="the second event consumed")
    assert after.json()["language"] == "es"
    assert after.json()["version"] == staff_version + 1
    # The staff member's copy is stale now: their next PUT must read again.
    stale = api.request("PUT", f"/v1/contact-preferences/{case_id}", token=token,
                        json={"language": "es", "do_not_contact": True}, headers={"If-Match": saved.headers["ETag"]})
    assert stale.status_code == 412

    # An event that changes nothing leaves the version alone (waited for through its reminders).
    third = appointment(agency, APPOINTMENT.replace(day=20), phone="+13145550111", email="p@example.org",
                        case_id=case_id)
    publish(third)
    wait_for(lambda: api.get(f"/v1/appointments/{third.data.appointment_id}/reminders", token=token)
             .status_code == 200, what="the third event consumed")
    again = _preference(api, token, case_id)
    assert again.json()["version"] == staff_version + 1 and again.json()["language"] == "es"
