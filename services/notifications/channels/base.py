"""What every notification channel (built-in or plugin) looks like: `name` and `send(message)`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from services.notifications.domain.delivery import AttemptResult, AttemptStatus

if TYPE_CHECKING:
    from shared.config import Settings

__all__ = ["AttemptResult", "AttemptStatus", "Channel", "ChannelFactory", "Message", "parse_retry_after"]


@dataclass(frozen=True)
class Message:
    """One message to one recipient; the same `id` is reused on every retry of it.

    recipient: webhook URL, email address, phone number, or partner organization id (AMQP feed).
    body: JSON payload (webhook, AMQP feed) or the plain-text content (email, SMS).
    """

    id: str
    recipient: str
    body: str
    subject: str | None = None  # email
    html: str | None = None  # email alternative part
    secrets: tuple[str, ...] = ()  # webhook: current secret first; two during rotation
    tenant: str | None = None  # agency slug (AMQP feed exchange)
    event_type: str | None = None  # e.g. org.diversion.resources.service_referral.requested
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Channel(Protocol):
    name: str

    def send(self, message: Message) -> AttemptResult: ...


class ChannelFactory(Protocol):
    """What an entry point in `diversion.channels` names: usually a class with `from_settings`."""

    name: str

    def from_settings(self, settings: Settings) -> Channel: ...


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(seconds, 0.0)
