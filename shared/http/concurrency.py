"""Optimistic concurrency for updates: every mutable resource has an ETag and updates need If-Match."""

from __future__ import annotations

from shared.http.api import Call
from shared.http.problems import PreconditionFailed, PreconditionRequired


def etag(resource_id: str, version: int) -> str:
    """A strong validator from the row's version counter (bumped on every change)."""
    return f'"{resource_id}.{version}"'


def require_if_match(call: Call, current: str) -> None:
    """428 without If-Match, 412 when it names another version than the current one."""
    if not call.if_match:
        raise PreconditionRequired("send If-Match with the ETag you read, so no one's change is overwritten")
    candidates = {value.strip().removeprefix("W/") for value in call.if_match.split(",")}
    if "*" not in candidates and current not in candidates:
        raise PreconditionFailed(
            "someone changed this resource since you read it; read it again and reapply your change",
            current_etag=current,
        )
