"""OpenTelemetry traces across the services, joined by the W3C `traceparent` every event already carries.

Off by default: unless `DIVERSION_OTLP_ENDPOINT` is set (or a test installs an exporter) no SDK
provider exists, every hook below is one `if` and returns None, and traceparents are made as before.
When on, one trace follows a request through the suite:

    HTTP request (SERVER, `shared.http.api`)
      -> outbox record (PRODUCER; its context becomes the event's `traceparent`, `shared.messaging.outbox`)
        -> relay send (CLIENT, one per event published)
        -> handler in the consuming service (CONSUMER; events it records are its children, `consumer`)
          -> webhook, feed, email or SMS send (CLIENT, `services.notifications.extensions`; a CloudEvent
             body names its parent, the event's own `traceparent`)

Spans go to each service's own provider (resource `service.name` = the service, `service.namespace`
= `diversion`), exported in batches over OTLP/HTTP (protobuf). Parents travel explicitly as
traceparent strings rather than through a current context, because work hops between green threads
(a request's worker, the relay, a batch of events) that do not share one. Attributes never carry
personal data: routes, event types and ids, channels, status codes.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

log = logging.getLogger(__name__)

__all__ = [
    "SpanKind",
    "configure",
    "enabled",
    "end_span",
    "install_exporter",
    "reset",
    "span",
    "start_span",
    "traceparent_in",
    "traceparent_of",
]

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
OTLP_TRACES_PATH = "/v1/traces"

_lock = threading.Lock()
_processor: SpanProcessor | None = None
_endpoint: str | None = None
_tracers: dict[str, trace.Tracer] = {}  # one provider (and its tracer) per service


def enabled() -> bool:
    return _processor is not None


def configure(otlp_endpoint: str | None) -> None:
    """Export over OTLP/HTTP to `otlp_endpoint` (its base URL; `/v1/traces` is added); None leaves tracing off.

    Called at every service container's setup; the first endpoint of a process wins.
    """
    global _processor, _endpoint
    if not otlp_endpoint:
        return
    with _lock:
        if _processor is not None:
            if otlp_endpoint != _endpoint:
                log.warning("traces already go to %s; ignoring %s", _endpoint, otlp_endpoint)
            return
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = otlp_endpoint.rstrip("/")
        if not url.endswith(OTLP_TRACES_PATH):
            url += OTLP_TRACES_PATH
        _processor, _endpoint = BatchSpanProcessor(OTLPSpanExporter(endpoint=url)), otlp_endpoint
        atexit.register(force_flush, 5_000)  # spans still queued when the service stops are sent
        log.info("tracing on: spans exported over OTLP/HTTP to %s", url)


def install_exporter(exporter: SpanExporter) -> None:
    """Send every span to `exporter` as it ends (tests: the SDK's InMemorySpanExporter)."""
    global _processor, _endpoint
    with _lock:
        _processor, _endpoint = SimpleSpanProcessor(exporter), None
        _tracers.clear()


def reset() -> None:
    """Tracing off again; spans still queued are flushed first."""
    global _processor, _endpoint
    with _lock:
        processor, _processor, _endpoint = _processor, None, None
        _tracers.clear()
    if processor is not None:
        processor.shutdown()


def force_flush(timeout_millis: int = 10_000) -> bool:
    processor = _processor
    return processor.force_flush(timeout_millis) if processor is not None else True


def _tracer(service: str) -> trace.Tracer | None:
    processor = _processor
    if processor is None:
        return None
    tracer = _tracers.get(service)
    if tracer is None:
        with _lock:
            tracer = _tracers.get(service)
            if tracer is None:
                provider = TracerProvider(
                    resource=Resource.create({"service.name": service, "service.namespace": "diversion"}),
                    shutdown_on_exit=False,  # the shared processor is flushed and shut down once, by reset()
                )
                provider.add_span_processor(processor)
                tracer = _tracers[service] = provider.get_tracer("diversion")
    return tracer


def _parent(traceparent: str | None) -> Any:
    """A context whose current span is the remote one `traceparent` names (None: a new trace)."""
    match = TRACEPARENT.match(traceparent or "")
    if match is None:
        return None
    context = SpanContext(
        trace_id=int(match.group(1), 16), span_id=int(match.group(2), 16), is_remote=True,
        trace_flags=TraceFlags(int(match.group(3), 16)),
    )
    if not context.is_valid:
        return None
    return trace.set_span_in_context(NonRecordingSpan(context))


def start_span(
    service: str, name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Span | None:
    """Start a span of `service` under the `parent` traceparent; None when tracing is off."""
    tracer = _tracer(service)
    if tracer is None:
        return None
    return tracer.start_span(name, context=_parent(parent), kind=kind, attributes=dict(attributes or {}))


def end_span(span: Span | None, error: BaseException | str | None = None,
             attributes: Mapping[str, Any] | None = None) -> None:
    if span is None:
        return
    if attributes:
        span.set_attributes(dict(attributes))
    if isinstance(error, BaseException):
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    elif error:
        span.set_status(Status(StatusCode.ERROR, error[:200]))
    span.end()


@contextmanager
def span(
    service: str, name: str, *, parent: str | None = None, kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """`with span(...) as s:` a span that records an exception raised inside it; `s` is None when off."""
    current = start_span(service, name, parent=parent, kind=kind, attributes=attributes)
    try:
        yield current
    except BaseException as exc:
        end_span(current, exc)
        raise
    end_span(current)


def traceparent_of(span: Span) -> str:
    """The W3C traceparent naming `span`: what its children and the events recorded under it carry."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def traceparent_in(body: str | bytes | None) -> str | None:
    """The `traceparent` of a structured CloudEvent body (a webhook, a feed message); None otherwise."""
    if not body or body[:1] not in ("{", b"{"):
        return None
    try:
        value = json.loads(body).get("traceparent")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and TRACEPARENT.match(value) else None
