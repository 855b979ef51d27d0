"""Helpers for the sealing and erasure tests of notifications: intake's requests, the database's rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text

from shared.messaging.catalog import RecordErasureRequested, RecordSealingRequested
from shared.messaging.envelope import CloudEvent, new_event
from shared.messaging.signing import signing_key
from shared.records import digests, tombstone_key

SEALING_CONFIRMED = "org.diversion.notifications.record.sealing_confirmed"
ERASURE_CONFIRMED = "org.diversion.notifications.record.erasure_confirmed"
TABLES = ("delivery", "delivery_attempt", "reminder", "appointment_state", "contact_preference", "case_assignment",
          "service_referral_case", "partner_consent", "pending_staff_notice", "record_mark", "tombstone")


def sealing_requested(agency: str, referral_id: str, case_id: str, request_id: str, attempt: int = 1) -> CloudEvent:
    data = RecordSealingRequested(request_id=request_id, referral_id=referral_id, case_id=case_id,
                                  requested_at=datetime.now(UTC), attempt=attempt, disposition="dismissal",
                                  pack_version="2026.1")
    return new_event(data, subject=referral_id, tenantid=agency)


def erasure_requested(agency: str, referral_id: str, case_id: str, request_id: str, attempt: int = 1) -> CloudEvent:
    data = RecordErasureRequested(request_id=request_id, referral_id=referral_id, case_id=case_id,
                                  requested_at=datetime.now(UTC), attempt=attempt, basis="court-order")
    return new_event(data, subject=referral_id, tenantid=agency)


def new_request() -> str:
    return f"req-{uuid.uuid4().hex[:8]}"


def query(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url.replace("+psycopg2", ""))
    with engine.connect() as connection:
        rows = list(connection.execute(text(sql), params).all())
    engine.dispose()
    return rows


def confirmations(url: str, event_type: str, request_id: str) -> list[dict]:
    """The confirmations notifications put in its outbox for this request, oldest first (their data)."""
    bodies = [row.body for row in query(url, "SELECT body FROM outbox WHERE event_type = :t ORDER BY id",
                                        t=event_type)]
    found = [json.loads(body)["data"] for body in bodies]
    return [data for data in found if data["request_id"] == request_id]


def tombstones_of(api: Any, agency: str, **identifiers: str) -> list[str]:
    return digests(tombstone_key(signing_key(api.settings.common)), agency, **identifiers)
