"""resources' own settings (`DIVERSION_RESOURCES_*`), the HSDS profile's (`DIVERSION_RESOURCES_HSDS_*`) among them."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class HsdsSettings(BaseSettings):
    """The HSDS profile's settings (`DIVERSION_RESOURCES_HSDS_*`), part of the resources settings."""

    hsds_public: bool = Field(default=True, description="read the HSDS profile without a token")
    hsds_rate_limit_per_minute: int = Field(default=600, ge=0, le=1_000_000,
                                            description="HSDS requests per client IP per minute (0: no limit)")
    hsds_profile_url: str = Field(default="https://docs.openreferral.org/en/v3.0/hsds/api_reference.html",
                                  description="what `/hsds/` names as the profile: the base HSDS 3.0 API")
    hsds_base_url: str | None = Field(default=None, description="public URL of this service (openapi_url)")


class ResourcesSettings(HsdsSettings):
    """resources' own settings (`DIVERSION_RESOURCES_*`; the HSDS profile's `..._HSDS_*` among them)."""

    model_config = SettingsConfigDict(env_prefix="DIVERSION_RESOURCES_", extra="ignore")

    referral_sla_hours: float = Field(default=48.0, ge=0, le=24 * 30,
                                      description="hours a partner has to acknowledge a referral")
    escalation_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    timezone: str = Field(default="America/Chicago", description="the directory's local time (opening hours)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone such as America/Chicago") from None
        return value


def hsds_settings_of(service: Any) -> HsdsSettings:
    """The settings the service was given (`config = OwnSettings(ResourcesSettings)`), else the defaults."""
    settings = getattr(service, "config", None)
    return settings if isinstance(settings, HsdsSettings) else HsdsSettings()
