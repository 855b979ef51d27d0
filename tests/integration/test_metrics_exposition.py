"""`/metrics` as Prometheus and OpenMetrics scrapers read it, checked with prometheus_client's own parsers."""

from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as prometheus_families

# What Prometheus 2.x sends when it scrapes.
OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


def names(families) -> set[str]:
    return {family.name for family in families}


@pytest.mark.parametrize("service", ["intake", "notifications"])
def test_an_openmetrics_scraper_gets_openmetrics_with_process_and_python_figures(start_service, service):
    api = start_service(service)
    api.get("/healthz")
    response = api.get("/metrics", headers={"Accept": OPENMETRICS_ACCEPT})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.headers["Vary"] == "Accept"
    assert response.text.endswith("# EOF\n") and response.text.count("# EOF") == 1
    families = list(openmetrics_families(response.text))  # raises on anything OpenMetrics forbids
    found = names(families)
    assert {f"diversion_{service}_http_requests", f"diversion_{service}_http_request_duration_seconds",
            "process_cpu_seconds", "process_resident_memory_bytes", "python_info", "python_gc_objects_collected",
            f"diversion_{service}_handler_failures"} <= found
    [requests] = [f for f in families if f.name == f"diversion_{service}_http_requests"]
    assert requests.type == "counter"
    assert any(s.labels == {"method": "GET", "route": "/healthz", "status": "200"} and s.value >= 1
               for s in requests.samples)


def test_without_an_openmetrics_accept_header_the_answer_is_prometheus_text(start_service):
    api = start_service("casework")
    for accept in (None, "text/plain", "*/*"):
        response = api.get("/metrics", headers={"Accept": accept} if accept else {})
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "# EOF" not in response.text
        found = names(prometheus_families(response.text))
        assert {"diversion_casework_http_requests", "process_cpu_seconds", "python_info"} <= found
