"""Webhook channel: a signed POST (Standard Webhooks) to a partner's URL, redirects never followed."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import requests

from services.notifications.channels.base import AttemptResult, AttemptStatus, Message, parse_retry_after
from services.notifications.channels.settings import channel_settings_of
from services.notifications.channels.signing import InvalidSecret, webhook_headers
from services.notifications.channels.ssrf import (
    AllowList,
    Resolver,
    TargetRefused,
    check_target,
    system_resolver,
)
from services.notifications.domain.clock import Clock, SystemClock

if TYPE_CHECKING:
    from shared.config import Settings

RETRYABLE_4XX = frozenset({408, 425, 429})


def classify_response(status_code: int, retry_after: float | None) -> tuple[AttemptStatus, str | None]:
    """Map an HTTP status to an attempt status (and an error text for non-2xx)."""
    if 200 <= status_code < 300:
        return AttemptStatus.DELIVERED, None
    if status_code == 410:
        return AttemptStatus.GONE, "receiver answered 410 Gone"
    if 300 <= status_code < 400:
        return (
            AttemptStatus.FAILED,
            f"receiver answered a redirect ({status_code}); redirects are not followed",
        )
    if status_code in RETRYABLE_4XX or status_code >= 500:
        return AttemptStatus.RETRY, f"receiver answered {status_code}"
    return AttemptStatus.FAILED, f"receiver answered {status_code}"


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        allow_list: Iterable[str] = (),
        timeout_seconds: float = 10.0,
        clock: Clock | None = None,
        session: requests.Session | None = None,
        resolver: Resolver = system_resolver,
        user_agent: str = "diversion-notifications/0.1 (Standard Webhooks)",
    ) -> None:
        self.allow_list = AllowList(allow_list)
        self.timeout_seconds = timeout_seconds
        self.clock: Clock = clock or SystemClock()
        self.session = session or requests.Session()
        # Proxies from the environment would bypass the SSRF check's view of where we connect.
        self.session.trust_env = False
        self.resolver = resolver
        self.user_agent = user_agent

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookChannel:
        own = channel_settings_of(settings)
        return cls(
            allow_list=own.webhook_allow_list,
            timeout_seconds=own.webhook_timeout_seconds,
            user_agent=own.webhook_user_agent,
        )

    def check_target(self, url: str) -> None:
        """Registration-time check; raises TargetRefused."""
        check_target(url, self.allow_list, self.resolver)

    def send(self, message: Message) -> AttemptResult:
        try:
            check_target(message.recipient, self.allow_list, self.resolver)
        except TargetRefused as exc:
            return AttemptResult(AttemptStatus.FAILED, error=str(exc))
        timestamp = int(self.clock.now().timestamp())
        body = message.body.encode("utf-8")
        try:
            headers = webhook_headers(message.secrets, message.id, timestamp, body)
        except InvalidSecret as exc:
            return AttemptResult(AttemptStatus.FAILED, error=str(exc))
        headers.update(
            {"content-type": "application/json", "user-agent": self.user_agent, **dict(message.headers)}
        )
        started = time.monotonic()
        try:
            response = self.session.post(
                message.recipient,
                data=body,
                headers=headers,
                timeout=self.timeout_seconds,
                allow_redirects=False,
                stream=True,  # the receiver's body is not needed; don't download it
            )
        except requests.Timeout:
            return AttemptResult(
                AttemptStatus.RETRY,
                latency_ms=_since(started),
                error=f"timed out after {self.timeout_seconds}s",
            )
        except requests.ConnectionError as exc:
            return AttemptResult(
                AttemptStatus.RETRY,
                latency_ms=_since(started),
                error=f"connection failed: {type(exc).__name__}",
            )
        except requests.RequestException as exc:
            return AttemptResult(AttemptStatus.FAILED, latency_ms=_since(started), error=type(exc).__name__)
        latency = _since(started)
        response.close()
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
        status, error = classify_response(response.status_code, retry_after)
        return AttemptResult(
            status,
            status_code=response.status_code,
            latency_ms=latency,
            error=error,
            retry_after_seconds=retry_after if status is AttemptStatus.RETRY else None,
        )


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
