"""casework's own settings (`DIVERSION_CASEWORK_*`): assignment default and the supervision timers."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CaseworkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIVERSION_CASEWORK_", extra="ignore")

    # Default `diversion.assignment` strategy; an agency may choose another (PUT /v1/settings).
    assignment_strategy: str = Field(default="least_caseload", min_length=1, max_length=64)
    # Seconds between supervision sweeps (overdue check-ins, silent cases, program ends).
    timer_interval_seconds: float = Field(default=300.0, gt=0, le=86400)
    # How often consents past their expiry date or event are announced (consent.expired, ADR 0070).
    consent_expiry_interval_seconds: float = Field(default=60.0, gt=0, le=86400)
    checkin_grace_hours: int = Field(default=24, ge=0, le=720)
    no_contact_days: int = Field(default=30, ge=1, le=365)
    end_approaching_days: int = Field(default=30, ge=1, le=365)

