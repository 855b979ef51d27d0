"""Delivery metrics on `/metrics`, by channel: sent, retried, failed, withheld (with a reason) and latency."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from notifications_events import appointment, referral_requested
from notifications_support import manual_clock, publish, wait_for
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.conftest import make_token

CHICAGO = ZoneInfo("America/Chicago")
INBOUND_SECRET = "inbound-secret-for-metrics"


def samples(api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the notifications page, read by the OpenMetrics parser."""
    response = api.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(api, name: str, **labels: str) -> float:
    return samples(api).get((f"diversion_notifications_{name}", tuple(sorted(labels.items()))), 0.0)


def test_webhook_attempts_are_counted_as_sent_retried_and_failed_with_their_latency(
    notifications, make_receiver, agency
):
    api = notifications()
    manual_clock(api)  # the clock stands still: the 503's retry (5 s later by the schedule) does not come
    accepting, down, gone = make_receiver(), make_receiver(), make_receiver()
    down.reply = lambda request: (503, {}, b"down")
    gone.reply = lambda request: (410, {}, b"gone")
    for org, receiver in (("org-ok", accepting), ("org-down", down), ("org-gone", gone)):
        token = make_token(agency, ("partner",), org=org)
        assert api.post("/v1/subscriptions", token=token, json={"url": receiver.url}).status_code == 201
        publish(referral_requested(agency, org))

    wait_for(lambda: value(api, "deliveries_sent_total", channel="webhook") == 1
             and value(api, "delivery_retries_total", channel="webhook") == 1
             and value(api, "deliveries_failed_total", channel="webhook") == 1, what="three attempts counted")
    assert len(accepting.requests) == len(down.requests) == len(gone.requests) == 1
    assert value(api, "delivery_latency_seconds_count", channel="webhook") == 3
    assert 0 < value(api, "delivery_latency_seconds_sum", channel="webhook") < 10
    assert value(api, "delivery_latency_seconds_bucket", channel="webhook", le="+Inf") == 3


def test_reminders_withheld_for_an_sms_opt_out_are_counted_with_their_reason(notifications, make_receiver, agency):
    provider = make_receiver()
    api = notifications(**{
        "DIVERSION_NOTIFICATIONS_SMS_ACCOUNT_SID": "AC0123456789",
        "DIVERSION_NOTIFICATIONS_SMS_AUTH_TOKEN": "twilio-token",
        "DIVERSION_NOTIFICATIONS_SMS_FROM": "+13145550199",
        "DIVERSION_NOTIFICATIONS_SMS_BASE_URL": provider.url,
        "DIVERSION_NOTIFICATIONS_SMS_INBOUND_SECRET": INBOUND_SECRET,
    })
    clock = manual_clock(api, start=datetime(2031, 3, 4, 10, 0, tzinfo=CHICAGO))
    event = appointment(agency, datetime(2031, 3, 6, 15, 0, tzinfo=CHICAGO), phone="+1 314 555 0166")
    publish(event)
    token = make_token(agency, ("case_manager",))
    wait_for(lambda: api.get(f"/v1/appointments/{event.data.appointment_id}/reminders", token=token)
             .status_code == 200, what="the reminders to be planned")
    stop = api.post("/v1/sms/inbound", data={"From": "+13145550166", "Body": "STOP"},
                    headers={"X-Diversion-Inbound-Secret": INBOUND_SECRET})
    assert stop.status_code == 204, stop.text

    clock.set(datetime(2031, 3, 6, 14, 0, tzinfo=CHICAGO))  # both reminders (24 h and 2 h before) are due
    wait_for(lambda: value(api, "deliveries_withheld_total", channel="sms", reason="sms_opt_out") == 2,
             what="both reminders counted as withheld")
    assert provider.requests == []
    assert value(api, "deliveries_sent_total", channel="sms") == 0
