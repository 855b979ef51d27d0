"""Idempotency-Key for creating endpoints (DESIGN section 4).

Same key and body from the same caller on the same route: the first result again. Same key, other
body: 422. Same key from anyone else (another token subject or organization of the agency, another
route or path): 422, and never the stored body. The key row is written in the same transaction as
what it created, so a crash never leaves a half-remembered request; two concurrent requests with one
key collide on the primary key and the loser replays the winner (or gets its 422).

`request_hash` holds two halves: a digest of the caller (agency, subject, organization, route and
path) and a digest of the body, so the two refusals can say which one differs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import JSON, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table, insert, select
from sqlalchemy.orm import Session

from shared.http.api import ApiResponse, Call
from shared.http.problems import UnprocessableContent
from shared.timestamps import UtcDateTime

TABLE = "idempotency_key"
MAX_KEY_LENGTH = 200


def _columns() -> list[Any]:
    return [
        Column("agency_id", String(64), nullable=False),
        Column("scope", String(80), nullable=False),
        Column("key", String(MAX_KEY_LENGTH), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status", Integer, nullable=False),
        Column("response", JSON, nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
    ]


def idempotency_table(metadata: MetaData) -> Table:
    return Table(TABLE, metadata, *_columns(), PrimaryKeyConstraint("agency_id", "scope", "key"))


_table = idempotency_table(MetaData())


def create_idempotency_table(op: Any) -> None:
    op.create_table(TABLE, *_columns(), PrimaryKeyConstraint("agency_id", "scope", "key"))


def drop_idempotency_table(op: Any) -> None:
    op.drop_table(TABLE)


def _caller_digest(call: Call) -> str:
    identity = call.identity
    caller = {
        "agency": identity.agency if identity else None, "sub": identity.sub if identity else None,
        "org": identity.org if identity else None, "route": call.route,
        "path": {name: str(value) for name, value in sorted(call.path.items())},
    }
    return hashlib.sha256(json.dumps(caller, sort_keys=True).encode()).hexdigest()[:32]


def request_hash(call: Call) -> str:
    """The caller's digest then the body's (32 hex digits each): what a replay must match."""
    return _caller_digest(call) + hashlib.sha256(call.raw_body).hexdigest()[:32]


def _key(call: Call) -> str | None:
    key = call.idempotency_key
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise UnprocessableContent(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters", slug="invalid-idempotency-key",
            errors=[{"field": "Idempotency-Key", "message": "invalid key", "type": "header"}],
        )
    return key


def replay(session: Session, call: Call, scope: str) -> ApiResponse | None:
    """The stored response for this key, or None when the request is new."""
    key = _key(call)
    if key is None:
        return None
    row = session.execute(
        select(_table).where(_table.c.agency_id == call.agency, _table.c.scope == scope, _table.c.key == key)
    ).mappings().first()
    if row is None:
        return None
    stored, current = row["request_hash"], request_hash(call)
    if stored[:32] != current[:32]:
        raise UnprocessableContent(
            "this Idempotency-Key was used by another caller or on another route; choose a key of your own",
            slug="idempotency-key-reused",
        )
    if stored != current:
        raise UnprocessableContent(
            "this Idempotency-Key was used with a different body", slug="idempotency-key-reused"
        )
    return ApiResponse(row["response"], status=row["status"], headers={"Idempotent-Replayed": "true"})


def remember(session: Session, call: Call, scope: str, status: int, response: Any) -> None:
    """Store the response in the caller's transaction (commit it with the change)."""
    key = _key(call)
    if key is None:
        return
    body = json.loads(response.model_dump_json()) if hasattr(response, "model_dump_json") else response
    session.execute(insert(_table).values(
        agency_id=call.agency, scope=scope, key=key, request_hash=request_hash(call), status=status,
        response=body, created_at=dt.datetime.now(dt.UTC),
    ))
