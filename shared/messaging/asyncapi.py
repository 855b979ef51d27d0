"""Generate the AsyncAPI 3.0 document of every event from the catalog: `python -m shared.messaging.asyncapi`.

It describes each publisher's exchange, the routing key (the CloudEvents type), and the JSON Schema of
every payload inside its envelope. Receive operations come from the code, not the catalog: one per
`@reliable_handler` method of the four service classes, naming the quorum queue it declares, so the
document claims a consumer only where one exists. AMQP bindings sit where the AMQP binding 0.3.0
puts them: exchange on the channel, delivery mode / mandatory / ack on the operation, content
encoding on the message. `tests/unit/test_standards.py` runs the official AsyncAPI parser over it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.messaging.catalog import CATALOG, EventSpec
from shared.messaging.topology import dlq_name, dlx_name, events_exchange_name, handler_queue_name, unrouted_name

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
AMQP_BINDING = "0.3.0"


@dataclass(frozen=True)
class Handler:
    """One `@reliable_handler` method: the service that consumes, the method, and the event it takes."""

    service: str
    method: str
    spec: EventSpec
    source: str
    doc: str = ""

    @property
    def queue(self) -> str:
        return handler_queue_name(self.service, self.source, self.spec, self.method)


def handlers_in_code() -> list[Handler]:
    """Every reliable handler declared on the four service classes, in service and method order."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    from shared.config import SERVICES
    from shared.messaging.consumer import ReliableEventHandler
    from shared.runner import service_class

    found = []
    for service in SERVICES:
        cls = service_class(service)
        for method in sorted(dir(cls)):
            member = getattr(cls, method, None)
            for entrypoint in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()) or ():
                if isinstance(entrypoint, ReliableEventHandler):
                    doc = (member.__doc__ or "").strip().split("\n\n")[0]
                    found.append(Handler(service, method, entrypoint.spec, entrypoint.source_service,
                                         " ".join(doc.split())))
    return found


def _key(spec: EventSpec) -> str:
    return f"{spec.service}_{spec.entity}_{spec.verb}"


def _envelope_schema(spec: EventSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0 structured-mode envelope",
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "dataschema",
            "tenantid",
            "dataclassification",
            "data",
        ],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string"},
            "source": {"type": "string", "description": "publishing service"},
            "type": {"const": spec.type},
            "subject": {"type": "string", "description": "id of the entity"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": spec.dataschema},
            "tenantid": {"type": "string", "description": "agency slug"},
            "dataclassification": {"const": spec.classification},
            "traceparent": {"type": "string", "description": "W3C trace context"},
            "data": {"$ref": f"#/components/schemas/{spec.model.__name__}"},
        },
    }


def _receive_operation(handler: Handler, key: str) -> dict[str, Any]:
    spec = handler.spec
    what = f" {handler.doc}" if handler.doc else ""
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{key}"},
        "title": f"{handler.service}.{handler.method}",
        "summary": f"{handler.service} receives {spec.name} (inbox, ack after commit)",
        "description": (
            f"`{handler.service}.{handler.method}` consumes from its own quorum queue `{handler.queue}`, bound "
            f"to `{events_exchange_name(handler.source)}` with routing key `{spec.type}`. It commits its effect "
            f"and an inbox row in one transaction, then acks; a redelivered event changes nothing. After "
            f"`DIVERSION_DELIVERY_LIMIT` failed attempts the event goes to `{dlx_name(handler.service)}` and "
            f"queue `{dlq_name(handler.service)}`.{what}"
        ),
        "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING}},
    }


def generate(handlers: list[Handler] | None = None) -> dict[str, Any]:
    """The document; `handlers` defaults to the ones declared in the services' code."""
    consumers = handlers_in_code() if handlers is None else handlers
    for handler in consumers:
        if handler.source != handler.spec.service:
            raise ValueError(f"{handler.service}.{handler.method} reads {handler.spec.type} from "
                             f"{handler.source}'s exchange; the document has no channel for that")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for spec in sorted(CATALOG.values(), key=lambda s: s.type):
        key = _key(spec)
        model_schema = spec.model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in model_schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[spec.model.__name__] = model_schema
        schemas[f"{spec.model.__name__}Event"] = _envelope_schema(spec)
        messages[key] = {
            "name": spec.type,
            "title": spec.name,
            "summary": spec.summary,
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": f"#/components/schemas/{spec.model.__name__}Event"},
            "bindings": {"amqp": {"contentEncoding": "utf-8", "bindingVersion": AMQP_BINDING}},
        }
        exchange = events_exchange_name(spec.service)
        readers = [h for h in consumers if h.spec is spec]
        consumed = (
            "Consumed in the suite by " + ", ".join(f"`{h.service}.{h.method}`" for h in readers) + "."
            if readers else "No service of the suite consumes it."
        )
        channels[key] = {
            "address": spec.type,
            "title": f"{spec.type} on {exchange}",
            "description": (
                f"Published by {spec.service} through its outbox. A subscribing handler declares its own "
                f"quorum queue `diversion.<service>.<method>--{spec.service}.{spec.name}` bound with this "
                f"routing key, with `x-delivery-limit` and dead-letter exchange `diversion.<service>.dlx`. "
                f"Unrouted events are kept in `{unrouted_name(spec.service)}`. {consumed}"
            ),
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                    "bindingVersion": AMQP_BINDING,
                }
            },
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{spec.service} publishes {spec.name} (outbox, publisher confirms)",
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            # Persistent, and mandatory: an event no queue is bound for goes to the alternate exchange.
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": AMQP_BINDING}},
        }
        for handler in readers:
            operations[f"receive_{handler.service}_{handler.method}"] = _receive_operation(handler, key)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Diversion suite events",
            "version": "1.0.0",
            "description": (
                "Events between the diversion services, generated from shared/messaging/catalog.py. "
                "Every message is a CloudEvents 1.0 JSON event; dead letters go to "
                f"`{dlx_name('<service>')}` and queue `diversion.<service>.dlq`."
            ),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "local": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "embedded default broker",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=False) + "\n"


def write(path: Path = DEFAULT_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DEFAULT_PATH
    print(f"wrote {write(target)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
