"""Generate the AsyncAPI 3.0 document of every event from the catalog: `python -m shared.messaging.asyncapi`.

It describes each publisher's exchange, the routing key (the CloudEvents type), the per-handler
quorum queues that subscribers declare, and the JSON Schema of every payload inside its envelope.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.messaging.catalog import CATALOG, EventSpec
from shared.messaging.envelope import source_of
from shared.messaging.topology import dlx_name, events_exchange_name, unrouted_name

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


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
            "source": {"type": "string", "format": "uri-reference", "const": source_of(spec.service),
                       "description": "URI reference of the publishing service"},
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


def generate() -> dict[str, Any]:
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
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
        exchange = events_exchange_name(spec.service)
        channels[key] = {
            "address": spec.type,
            "title": f"{spec.type} on {exchange}",
            "description": (
                f"Published by {spec.service} through its outbox. Each subscribing handler has its own "
                f"quorum queue `diversion.<service>.<method>--{spec.service}.{spec.name}` bound with this "
                f"routing key, with `x-delivery-limit` and dead-letter exchange `diversion.<service>.dlx`. "
                f"Unrouted events are kept in `{unrouted_name(spec.service)}`."
            ),
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": exchange, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{spec.service} publishes {spec.name} (outbox, publisher confirms)",
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        }
        operations[f"receive_{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"a reliable handler receives {spec.name} (inbox, ack after commit)",
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
        }
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
