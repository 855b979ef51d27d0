"""intake's own settings (`DIVERSION_INTAKE_*`), read by `shared.config` into `Settings.extra`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    """intake's own settings (`DIVERSION_INTAKE_*`)."""

    model_config = SettingsConfigDict(env_prefix="DIVERSION_INTAKE_", extra="ignore")

    review_interval_seconds: float = Field(
        default=60.0, gt=0, le=86_400,
        description="how often deferrals and eligibility dates that have come are put back in the review queue")
    review_batch: int = Field(default=200, ge=1, le=5_000, description="referrals returned per pass at most")
    export_key: str | None = Field(
        default=None, min_length=32, repr=False,
        description="key of the research export's keyed hashes (default: derived from the suite's JWT secret)")
    sealing_interval_seconds: float = Field(
        default=2.0, gt=0, le=86_400,
        description="how often the sealing ledger starts sealings whose day came and asks silent services again")
    sealing_packs_dir: Path | None = Field(
        default=None, description="directory of the agencies' sealing packs (default: shared/sealing_packs)")
