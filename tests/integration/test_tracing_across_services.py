"""One OpenTelemetry trace across three services, joined by the `traceparent` the events carry.

The services run in-process on the test broker and databases; their spans go to the SDK's in-memory
exporter (`shared.tracing.install_exporter`), as they would go to a collector over OTLP.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import tracing
from tests.conftest import make_token
from tests.integration.intake.intake_api_support import install_pack, referral_body, submit
from tests.support.waiting import wait_for

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"  # the agency system's own trace, continued by the suite


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install_exporter(exporter)
    yield exporter
    tracing.reset()


def service_of(span) -> str:
    return str(span.resource.attributes["service.name"])


def test_an_accepted_referral_is_one_trace_from_the_http_request_to_the_notifications_handler(
    start_service, agency, spans
):
    intake = start_service("intake")
    casework = start_service("casework")
    start_service("notifications")
    install_pack(intake, agency)
    staff = casework.post("/v1/staff", token=make_token(agency, ("supervisor",)), json={
        "name": "Staff cm-1", "email": f"cm-1@{agency}.example.org", "role": "case_manager",
        "programs": ["young-adult"], "caseload_cap": 5, "subject": "cm-1"})
    assert staff.status_code == 201, staff.text
    created = submit(intake, agency, referral_body())
    etag = intake.get(f"/v1/referrals/{created['id']}", token=make_token(agency, ("supervisor",))).headers["ETag"]

    accepted = intake.post(f"/v1/referrals/{created['id']}/decision", token=make_token(agency, ("screener",)),
                           json={"action": "accept", "program": "young-adult"},
                           headers={"If-Match": etag, "traceparent": f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["traceparent"].split("-")[1] == CLIENT_TRACE

    def in_trace():
        return [s for s in spans.get_finished_spans() if f"{s.context.trace_id:032x}" == CLIENT_TRACE]

    wait_for(lambda: any(s.name == "process org.diversion.casework.case.assigned" and service_of(s) == "notifications"
                         for s in in_trace()), timeout=30, what="the notifications handler's span in the trace")
    trace = in_trace()
    by_id = {s.context.span_id: s for s in trace}
    assert {service_of(s) for s in trace} == {"intake", "casework", "notifications"}

    def path_to_root(span) -> list[str]:
        names = [f"{service_of(span)}: {span.name}"]
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(f"{service_of(span)}: {span.name}")
        assert span.parent is not None and f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"  # the caller's span
        return names[::-1]

    [handled] = [s for s in trace if s.name == "process org.diversion.casework.case.assigned"]
    assert handled.kind is SpanKind.CONSUMER
    assert path_to_root(handled) == [
        "intake: POST /v1/referrals/<referral_id>/decision",
        "intake: create org.diversion.intake.referral.accepted",
        "casework: process org.diversion.intake.referral.accepted",
        "casework: create org.diversion.casework.case.assigned",
        "notifications: process org.diversion.casework.case.assigned",
    ]
    [request] = [s for s in trace if s.kind is SpanKind.SERVER]
    assert request.attributes["http.response.status_code"] == 200
    # the relay's publish of each event hangs under that event's `create` span
    sends = [s for s in trace if s.kind is SpanKind.CLIENT and s.name.startswith("send ")]
    assert {by_id[s.parent.span_id].name for s in sends} >= {
        "create org.diversion.intake.referral.accepted", "create org.diversion.casework.case.assigned"}
    assert {s.name for s in sends} >= {"send diversion.intake.events", "send diversion.casework.events"}
