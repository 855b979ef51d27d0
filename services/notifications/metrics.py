"""Delivery figures of the notifications service, by channel (`diversion_notifications_...` on `/metrics`).

- `deliveries_sent_total`: attempts the receiver accepted;
- `deliveries_failed_total`: deliveries given up (a permanent error, or the last attempt failed);
- `delivery_retries_total`: failed attempts after which another attempt is scheduled;
- `deliveries_withheld_total{reason}`: messages deliberately not sent (an SMS opt-out, a disabled
  subscription, a participant who asked not to be contacted, only quiet hours left...); `channel` is
  `none` when none was chosen yet;
- `delivery_latency_seconds`: how long a channel took for one attempt.

No label names a person, a recipient or a subscription.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.metrics import ServiceMetrics

# The sentence people read (the attempt log, a reminder's skip_reason) -> the code it is counted under.
WITHHELD_REASONS: dict[str, str] = {
    "the subscription is disabled": "subscription_disabled",
    "the recipient opted out of SMS (STOP)": "sms_opt_out",
    "the participant opted out of SMS (STOP)": "sms_opt_out",
    "the participant asked not to be contacted": "do_not_contact",
    "no contact details for the participant": "no_contact_details",
    "no reachable contact for the participant": "no_reachable_contact",
    "the participant's phone number is not valid": "invalid_phone_number",
    "the appointment has already started": "appointment_started",
    "only quiet hours are left before the appointment": "quiet_hours",
    "template error": "template_error",
}
NO_CHANNEL = "none"
# Reasons that name their channel although a skipped reminder had not chosen one yet.
CHANNEL_OF_REASON = {"sms_opt_out": "sms", "invalid_phone_number": "sms"}
# Seconds; webhooks answer in milliseconds, SMTP and SMS providers in tenths, a timeout after 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

SENT, FAILED, RETRIED, WITHHELD = "sent", "failed", "retried", "withheld"


def withheld_code(reason: str | None) -> str:
    return WITHHELD_REASONS.get(reason or "", "other")


class DeliveryMetrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.sent = metrics.counter("deliveries_sent_total", "Delivery attempts the receiver accepted", ("channel",))
        self.failed = metrics.counter(
            "deliveries_failed_total", "Deliveries given up: a permanent error, or the last attempt failed",
            ("channel",),
        )
        self.retried = metrics.counter(
            "delivery_retries_total", "Failed delivery attempts after which another attempt is scheduled",
            ("channel",),
        )
        self.withheld = metrics.counter(
            "deliveries_withheld_total", "Messages deliberately not sent, by reason (opt-out, disabled subscription)",
            ("channel", "reason"),
        )
        self.latency = metrics.histogram(
            "delivery_latency_seconds", "Time a channel took for one delivery attempt", ("channel",),
            buckets=LATENCY_BUCKETS,
        )

    def count(self, tally: Iterable[tuple[str, str, str | None]]) -> None:
        """Count recorded outcomes: (channel, SENT | FAILED | RETRIED | WITHHELD, the reason if withheld)."""
        for channel, kind, reason in tally:
            if kind == SENT:
                self.sent.labels(channel).inc()
            elif kind == RETRIED:
                self.retried.labels(channel).inc()
            elif kind == WITHHELD:
                self.withheld.labels(channel, withheld_code(reason)).inc()
            else:
                self.failed.labels(channel).inc()

    def count_withheld(self, channel: str | None, reason: str) -> None:
        code = withheld_code(reason)
        self.withheld.labels(channel or CHANNEL_OF_REASON.get(code, NO_CHANNEL), code).inc()

    def observe_latency(self, channel: str, seconds: float) -> None:
        self.latency.labels(channel).observe(seconds)
