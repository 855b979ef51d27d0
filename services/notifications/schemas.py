"""Notifications' HTTP bodies (pydantic)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    channel: str
    url: str | None
    event_types: list[str]
    status: str
    created_at: dt.datetime
