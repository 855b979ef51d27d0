"""Channel settings (`DIVERSION_NOTIFICATIONS_*`).

Pass `extra_class=ChannelSettings` to `shared.config.load_settings("notifications", ...)`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIVERSION_NOTIFICATIONS_", extra="ignore")

    # Webhooks
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Comma separated hosts or CIDRs that may be called although private (e.g. "10.1.0.0/16,hooks.lan").
    webhook_allow_list: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_user_agent: str = "diversion-notifications/0.1 (Standard Webhooks)"

    # Email (SMTP)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_from: str = "Diversion Program <no-reply@localhost>"
    smtp_timeout_seconds: float = Field(default=15.0, gt=0, le=120)

    # SMS (HTTP provider)
    sms_provider: Literal["twilio"] = "twilio"
    sms_base_url: str = "https://api.twilio.com"
    sms_account_sid: str | None = None
    sms_auth_token: str | None = Field(default=None, repr=False)
    sms_from: str | None = None
    sms_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    sms_default_country_code: str = Field(default="1", pattern=r"^[1-9][0-9]{0,2}$")

    # AMQP partner feed (the broker itself is DIVERSION_AMQP_URI)
    feed_confirm_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("webhook_allow_list", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("sms_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


def channel_settings_of(settings: Any) -> ChannelSettings:
    """The ChannelSettings inside a `shared.config.Settings` (defaults when it has none)."""
    extra = getattr(settings, "extra", None)
    return extra if isinstance(extra, ChannelSettings) else ChannelSettings()
