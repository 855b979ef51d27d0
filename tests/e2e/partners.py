"""A partner organization in the end-to-end tests: its webhook endpoint, its directory entry, a referral to it."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from typing import Any

import requests

from shared.disclosure import PARTNER_EVENT_TYPES
from tests.e2e.conftest import call, token
from tests.support.waiting import wait_for


class Receiver:
    """A partner's webhook endpoint on loopback; answers 503 with Retry-After while `failing`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.failing = False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.failing:
                    self.send_response(503)
                    self.send_header("Retry-After", "12")
                    self.end_headers()
                    return
                outer.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def about(self, referral_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
        return [b for b in self.received if b["data"].get("service_referral_id") == referral_id
                and (event_type is None or b["type"].endswith(event_type))]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def partner_org(urls: dict[str, str], name: str) -> tuple[str, str]:
    """(organization id, an accepting service id) of a seeded partner."""
    supervisor = token("supervisor")
    org = call("GET", f"{urls['resources']}/v1/organizations", supervisor, 200, params={"search": name}).json()
    org_id = org["items"][0]["id"]
    services = call("GET", f"{urls['resources']}/v1/services", supervisor, 200,
                    params={"organization_id": org_id}).json()["items"]
    return org_id, next(s["id"] for s in services if s.get("capacity", "accepting") == "accepting")


def refer(urls: dict[str, str], case_manager: str, case: dict[str, Any], service_id: str, need: str,
          need_category: str, expect: int = 201) -> requests.Response:
    body = {"case_id": case["id"], "participant_id": case["participant_id"], "participant_name": "Jordan Example",
            "contact": {"phone": "+13145550100", "email": "jordan@example.org"}, "need": need,
            "need_category": need_category, "service_id": service_id,
            "consent": {"categories": ["contact_info"], "purpose": "service_referral"}}

    def answered() -> tuple[requests.Response] | None:  # resources learns the case from case.opened
        response = requests.post(f"{urls['resources']}/v1/service-referrals", json=body, timeout=20, headers={
            "Authorization": f"Bearer {case_manager}", "Idempotency-Key": str(uuid.uuid4())})
        if response.status_code == 422 and "case-participant-mismatch" in response.text:
            return None
        return (response,)  # a tuple: a Response is falsy when its status is an error

    (response,) = wait_for(answered, 30, "resources knows the case")
    assert response.status_code == expect, response.text[:1500]
    return response


def subscribe(urls: dict[str, str], partner: str, channel: str, url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": channel, "event_types": list(PARTNER_EVENT_TYPES)}
    if url:
        body["url"] = url
    return call("POST", f"{urls['notifications']}/v1/subscriptions", partner, 201, json=body).json()
