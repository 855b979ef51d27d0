"""SMS channel: a provider-neutral `SmsProvider` plus a Twilio-format HTTP adapter."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import requests

from services.notifications.channels.base import AttemptResult, AttemptStatus, Message, parse_retry_after
from services.notifications.channels.settings import channel_settings_of
from services.notifications.domain.phone import InvalidPhoneNumber, normalize_phone

if TYPE_CHECKING:
    from shared.config import Settings

# Twilio error codes meaning the number will never take our messages (treated as `gone`).
TWILIO_UNSUBSCRIBED = frozenset({21610})  # recipient replied STOP


class SmsProviderNotConfigured(RuntimeError):
    """SMS settings are missing (account, token or sender number)."""


class SmsProvider(Protocol):
    def send(self, to: str, body: str) -> AttemptResult:
        """Send `body` to `to` (E.164)."""
        ...


class TwilioSmsProvider:
    """Twilio's Messages API: form POST to {base_url}/2010-04-01/Accounts/{sid}/Messages.json, basic auth.

    Any service speaking the same format works by changing `base_url`.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "https://api.twilio.com",
        timeout_seconds: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = normalize_phone(from_number)
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.timeout_seconds = timeout_seconds
        self.session = session or requests.Session()

    def send(self, to: str, body: str) -> AttemptResult:
        started = time.monotonic()
        try:
            response = self.session.post(
                self.url,
                data={"From": self.from_number, "To": to, "Body": body},
                auth=(self.account_sid, self.auth_token),
                timeout=self.timeout_seconds,
                allow_redirects=False,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            return AttemptResult(
                AttemptStatus.RETRY,
                latency_ms=_since(started),
                error=f"SMS provider unreachable: {type(exc).__name__}",
            )
        latency = _since(started)
        code = response.status_code
        if 200 <= code < 300:
            return AttemptResult(AttemptStatus.DELIVERED, status_code=code, latency_ms=latency)
        if code == 429 or code >= 500:
            return AttemptResult(
                AttemptStatus.RETRY,
                status_code=code,
                latency_ms=latency,
                error=f"SMS provider answered {code}",
                retry_after_seconds=parse_retry_after(response.headers.get("retry-after")),
            )
        provider_code = _error_code(response)
        if provider_code in TWILIO_UNSUBSCRIBED:
            return AttemptResult(
                AttemptStatus.GONE,
                status_code=code,
                latency_ms=latency,
                error="recipient has opted out (STOP)",
            )
        detail = f" (provider error {provider_code})" if provider_code else ""
        return AttemptResult(
            AttemptStatus.FAILED,
            status_code=code,
            latency_ms=latency,
            error=f"SMS provider answered {code}{detail}",
        )


def _error_code(response: requests.Response) -> int | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    code = payload.get("code") if isinstance(payload, dict) else None
    return code if isinstance(code, int) else None


class SmsChannel:
    name = "sms"

    def __init__(self, provider: SmsProvider, default_country_code: str = "1") -> None:
        self.provider = provider
        self.default_country_code = default_country_code

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsChannel:
        own = channel_settings_of(settings)
        if not (own.sms_account_sid and own.sms_auth_token and own.sms_from):
            raise SmsProviderNotConfigured(
                "SMS needs DIVERSION_NOTIFICATIONS_SMS_ACCOUNT_SID, _SMS_AUTH_TOKEN and _SMS_FROM"
            )
        provider = TwilioSmsProvider(
            account_sid=own.sms_account_sid,
            auth_token=own.sms_auth_token,
            from_number=own.sms_from,
            base_url=own.sms_base_url,
            timeout_seconds=own.sms_timeout_seconds,
        )
        return cls(provider, own.sms_default_country_code)

    def send(self, message: Message) -> AttemptResult:
        try:
            to = normalize_phone(message.recipient, self.default_country_code)
        except InvalidPhoneNumber:
            # The number itself stays out of the attempt log (personal data).
            return AttemptResult(AttemptStatus.FAILED, error="recipient is not a valid phone number")
        return self.provider.send(to, message.body)


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
