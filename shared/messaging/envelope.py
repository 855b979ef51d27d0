"""The CloudEvents 1.0 envelope every event travels in, and its (de)serialisation.

`data` is always a catalog model; events are validated when they are built and when they arrive.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.messaging.catalog import EventSpec, spec_for_model, spec_for_type

# `source` is a URI reference naming the suite and the publishing service (CloudEvents 1.0 types it
# URI-reference). A relative reference, because the suite owns no domain name or URN namespace that
# every deployment could share; with `id` (a UUID) it is unique per event, as the spec asks.
SOURCE_PREFIX = "/diversion/"
D = TypeVar("D", bound=BaseModel)


def source_of(service: str) -> str:
    """The `source` of every event `service` publishes: `/diversion/<service>`."""
    return f"{SOURCE_PREFIX}{service}"


def service_of(source: str) -> str:
    """The service a `source` names; a bare name (events published before sources were URIs) is itself."""
    return source.removeprefix(SOURCE_PREFIX)


class InvalidEvent(Exception):
    """A message is not a CloudEvent of a type in the catalog, or its data does not match the schema."""


class CloudEvent(BaseModel, Generic[D]):
    """A CloudEvents 1.0 JSON event (structured mode) with the suite's extensions; `data` is a catalog model.

    A handler names the model it receives, `def on_case_opened(self, event: CloudEvent[CaseOpened])`, and
    `event.data` is typed as that model: the consumer validated it against the event type's catalog model
    before the handler runs (`parse_event`), so no handler casts or asserts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=100)
    source: str = Field(min_length=1, max_length=200, description="URI reference of the publishing service")
    type: str = Field(pattern=r"^org\.diversion\.[a-z_]+\.[a-z_]+\.[a-z_]+$")
    subject: str = Field(min_length=1, max_length=200, description="id of the entity the event is about")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    tenantid: str = Field(min_length=1, max_length=100, description="agency slug")
    dataclassification: Literal["public", "internal", "confidential", "cjis"]
    traceparent: str | None = Field(default=None, pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
    data: D

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a timezone")
        return value

    @property
    def spec(self) -> EventSpec:
        return spec_for_type(self.type)

    def to_json_dict(self) -> dict[str, Any]:
        body = self.model_dump(mode="json", exclude={"data"}, exclude_none=True)
        body["data"] = self.data.model_dump(mode="json")
        return body

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json_dict(), separators=(",", ":")).encode()


Emit = Callable[[CloudEvent[Any]], None]
"""Where a use case hands the events it produces: the service's outbox, in the caller's transaction."""


def new_event(
    data: D,
    *,
    subject: str,
    tenantid: str,
    source: str | None = None,
    traceparent: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent[D]:
    """Wrap a catalog model in an envelope; type, dataschema and classification come from the catalog."""
    spec = spec_for_model(type(data))
    fields: dict[str, Any] = {
        "source": source or source_of(spec.service),
        "type": spec.type,
        "subject": subject,
        "dataschema": spec.dataschema,
        "tenantid": tenantid,
        "dataclassification": spec.classification,
        "traceparent": traceparent,
        "data": data,
    }
    if event_id:
        fields["id"] = event_id
    if time:
        fields["time"] = time
    return CloudEvent(**fields)


def parse_event(raw: bytes | str | dict[str, Any]) -> CloudEvent[Any]:
    """Validate a received event: envelope, known type, and data against that type's model."""
    try:
        body = json.loads(raw) if isinstance(raw, bytes | str) else dict(raw)
    except ValueError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidEvent("an event is a JSON object")
    event_type = body.get("type")
    try:
        spec = spec_for_type(str(event_type))
    except KeyError:
        raise InvalidEvent(f"unknown event type {event_type!r}") from None
    try:
        data = spec.model.model_validate(body.get("data"))
        return CloudEvent.model_validate({**body, "data": data})
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise InvalidEvent(f"{spec.type}: {exc}") from None
