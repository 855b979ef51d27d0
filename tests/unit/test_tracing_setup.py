"""shared.tracing: off by default, and when an endpoint is configured spans reach it over OTLP/HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shared import tracing
from shared.config import CommonSettings, ConfigError, load_settings

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def _off_afterwards() -> Iterator[None]:
    tracing.reset()
    yield
    tracing.reset()


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A stand-in OpenTelemetry collector: an HTTP server keeping every OTLP request."""
    received: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append((self.path, self.headers.get("content-type", ""), body))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_tracing_is_off_unless_an_endpoint_is_configured() -> None:
    assert CommonSettings().otlp_endpoint is None
    tracing.configure(None)
    assert not tracing.enabled()
    assert tracing.start_span("intake", "POST /v1/referrals", parent=PARENT) is None
    with tracing.span("intake", "anything") as span:
        assert span is None


def test_an_endpoint_that_is_not_http_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="DIVERSION_OTLP_ENDPOINT"):
        load_settings("intake", env={"DIVERSION_OTLP_ENDPOINT": "grpc://collector:4317"})


def test_spans_are_exported_over_otlp_http_to_the_configured_collector(collector) -> None:
    url, received = collector
    tracing.configure(load_settings("intake", env={"DIVERSION_OTLP_ENDPOINT": url}).common.otlp_endpoint)
    assert tracing.enabled()
    span = tracing.start_span("intake", "POST /v1/referrals", parent=PARENT, kind=tracing.SpanKind.SERVER,
                              attributes={"http.route": "/v1/referrals"})
    assert span is not None
    child = tracing.traceparent_of(span)
    assert child.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and "00f067aa0ba902b7" not in child
    tracing.end_span(span, attributes={"http.response.status_code": 201})
    assert tracing.force_flush()

    [(path, content_type, body)] = received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "intake" and resource["service.namespace"] == "diversion"
    [exported] = resource_spans.scope_spans[0].spans
    assert exported.name == "POST /v1/referrals"
    assert exported.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert exported.parent_span_id.hex() == "00f067aa0ba902b7"
    assert {a.key: a.value.int_value for a in exported.attributes if a.key.startswith("http.response")} == {
        "http.response.status_code": 201}


def test_a_cloudevent_body_names_its_traceparent_and_other_bodies_none() -> None:
    assert tracing.traceparent_in(json.dumps({"specversion": "1.0", "traceparent": PARENT})) == PARENT
    assert tracing.traceparent_in(b'{"traceparent":"not-one"}') is None
    assert tracing.traceparent_in("Hello Jordan, your appointment is tomorrow.") is None
    assert tracing.traceparent_in("{broken") is None
