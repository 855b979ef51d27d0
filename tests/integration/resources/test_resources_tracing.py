# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""The trace of a service referral goes on to the partner's webhook, joined by the event's `traceparent`.

Resources (with the stand-in casework of these tests answering the consent check) and notifications run
in-process; spans go to the SDK's in-memory exporter. The partner is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from resources_support import resources, wait_for  # noqa: F401 - fixture
from test_resources_referrals import ST_PATRICK, refer

from shared import tracing
from tests.conftest import make_token
from tests.integration.notifications.notifications_events import consent_recorded
from tests.integration.notifications.notifications_support import publish


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install_exporter(exporter)
    yield exporter
    tracing.reset()


@pytest.fixture
def partner() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    server.shutdown()
    server.server_close()


def hex_id(value: int, width: int) -> str:
    return f"{value:0{width}x}"


def traceparent(span: Any) -> str:
    context = span.context
    return f"00-{hex_id(context.trace_id, 32)}-{hex_id(context.span_id, 16)}-{int(context.trace_flags):02x}"


def test_a_service_referral_is_one_trace_from_the_staff_request_to_the_partners_webhook(
    resources, start_service, agency, spans, partner
):
    url, received = partner
    api = resources.start()
    notifications = start_service("notifications", DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST="127.0.0.1",
                                  DIVERSION_NOTIFICATIONS_DISPATCH_INTERVAL_SECONDS="0.1")
    subscribed = notifications.post("/v1/subscriptions", token=make_token(agency, ("partner",), org=ST_PATRICK),
                                    json={"url": url})
    assert subscribed.status_code == 201, subscribed.text

    created = refer(resources, api, agency)
    trace_id = created.headers["traceparent"].split("-")[1]
    # casework's consent.recorded for the consent the stand-in granted: the send-time check needs it (ADR 0070)
    participant = created.json()["participant_id"]
    consent_id = resources.ledger.covered[(agency, participant, ST_PATRICK)]
    publish(consent_recorded(agency, ST_PATRICK, consent_id=consent_id, participant_id=participant,
                             person_id=participant))
    [(headers, body)] = wait_for(lambda: received, timeout=30, what="the webhook at the partner")
    wait_for(lambda: any(s.name == "webhook send" for s in spans.get_finished_spans()), what="the send span")

    trace = [s for s in spans.get_finished_spans() if hex_id(s.context.trace_id, 32) == trace_id]
    by_id = {s.context.span_id: s for s in trace}
    names = {(str(s.resource.attributes["service.name"]), s.name) for s in trace}
    assert {("resources", "POST /v1/service-referrals"),
            ("resources", "create org.diversion.resources.service_referral.requested"),
            ("resources", "send diversion.resources.events"),
            ("notifications", "process org.diversion.resources.service_referral.requested"),
            ("notifications", "webhook send")} <= names

    [send] = [s for s in trace if s.name == "webhook send"]
    assert send.kind is SpanKind.CLIENT
    assert send.attributes["http.response.status_code"] == 204
    created_span = by_id[send.parent.span_id]
    assert created_span.name == "create org.diversion.resources.service_referral.requested"
    assert by_id[created_span.parent.span_id].name == "POST /v1/service-referrals"
    # the partner can join the trace: the event in the body names its creation, the request names the send
    event = json.loads(body)
    assert event["traceparent"] == traceparent(created_span) and trace_id in event["traceparent"]
    assert headers["traceparent"] == traceparent(send)
    assert uuid.UUID(event["id"])
