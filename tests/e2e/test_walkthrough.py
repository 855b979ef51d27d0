"""One referral from intake to dismissal across the four services, run as separate processes the way
`make run` runs them, on the real broker and PostgreSQL. (Issue 8's walk-through, without the reminder
email leg, which is covered by the notifications tests.)"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from shared import migrations
from tests.conftest import AMQP_URI, JWT_SECRET, create_database, drop_database, free_port, make_token

SERVICES = ("intake", "casework", "resources", "notifications")
ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not met within {timeout}s")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("suite")
    names = {s: f"diversion_test_e2e_{s}_{os.getpid()}" for s in SERVICES}
    databases = {s: create_database(n) for s, n in names.items()}
    ports = {s: free_port() for s in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIVERSION_")}
    env.update({"PYTHONPATH": str(ROOT), "DIVERSION_AMQP_URI": AMQP_URI, "DIVERSION_DATA_DIR": str(tmp),
                "DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST": "127.0.0.1"})
    for s in SERVICES:
        env[f"DIVERSION_{s.upper()}_DATABASE_URL"] = databases[s]
        env[f"DIVERSION_{s.upper()}_HTTP_PORT"] = str(ports[s])
        migrations.upgrade(s, databases[s])
    subprocess.run([sys.executable, "-m", "shared.main", "seed", "--all"], env=env, check=True,
                   capture_output=True, timeout=180)
    logs = {s: open(tmp / f"{s}.log", "w") for s in SERVICES}  # noqa: SIM115 - closed below
    procs = {s: subprocess.Popen([sys.executable, "-m", "shared.main", "serve", s], env=env,
                                 stdout=logs[s], stderr=subprocess.STDOUT) for s in SERVICES}
    urls = {s: f"http://127.0.0.1:{p}" for s, p in ports.items()}
    try:
        def ready() -> bool:
            for s in SERVICES:
                assert procs[s].poll() is None, (tmp / f"{s}.log").read_text()[-3000:]
                try:
                    if requests.get(f"{urls[s]}/readyz", timeout=1).status_code != 200:
                        return False
                except requests.ConnectionError:
                    return False
            return True

        wait_for(ready, 60, "all four services ready")
        yield urls
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for s, proc in procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            logs[s].close()
        for name in names.values():
            drop_database(name)


class Receiver:
    """The partner's webhook endpoint (a real HTTP server on loopback)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/diversion"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def call(method: str, url: str, token: str, expect: int, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    response = requests.request(method, url, headers=headers, timeout=20, **kwargs)
    assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.text[:1500]}"
    return response


def test_one_referral_travels_from_intake_to_dismissal_across_all_four_services(suite):
    intake, casework, resources, notifications = (suite[s] for s in SERVICES)
    screener = make_token("stl-cao", ("screener",), sub="screener-1")
    supervisor = make_token("stl-cao", ("supervisor",), sub="supervisor-1")
    auditor = make_token("stl-cao", ("auditor",), sub="auditor-1")
    today = dt.date.today()

    # intake: submit and screen (young adult, non-violent felony), then accept
    referral = call("POST", f"{intake}/v1/referrals", screener, 201, json={
        "source": "police", "case_number": f"2611-CR{uuid.uuid4().hex[:6]}",
        "defendant": {"first_name": "Jordan", "last_name": "Example", "date_of_birth": "2003-04-05",
                      "phone": "+13145550100", "email": "jordan@example.org"},
        "charges": [{"statute": "570.030", "description": "Stealing", "offense_class": "felony_d",
                     "offense_date": (today - dt.timedelta(days=30)).isoformat(), "violent": None}],
        "history": {"convictions": [], "prior_diversions": [], "pending_cases": 0},
    })
    screening = referral.json()["screening"]
    young_adult = next(p for p in screening["programs"] if p["program"] == "young-adult")
    assert young_adult["status"] == "eligible"
    assert all(c["reason"] for c in young_adult["criteria"])
    referral_id = referral.json()["id"]
    call("POST", f"{intake}/v1/referrals/{referral_id}/decision", screener, 200,
         json={"action": "accept", "program": "young-adult"}, headers={"If-Match": referral.headers["ETag"]})

    # casework: exactly one case opened from referral.accepted, assigned to a demo case manager
    def opened_case() -> dict[str, Any] | None:
        items = call("GET", f"{casework}/v1/cases?limit=200", supervisor, 200).json()["items"]
        matches = [c for c in items if c["referral_id"] == referral_id]
        assert len(matches) <= 1
        return matches[0] if matches and matches[0]["case_manager_id"] else None

    case = wait_for(opened_case, 30, "case opened and assigned")
    assert case["state"] == "active" and case["program_id"] == "young-adult"

    # resources: the seed's St. Patrick Center and its housing service
    orgs = call("GET", f"{resources}/v1/organizations", supervisor, 200, params={"search": "St. Patrick"}).json()
    org = orgs["items"][0]
    services = call("GET", f"{resources}/v1/services", supervisor, 200,
                    params={"need": "housing", "organization_id": org["id"]}).json()["items"]
    assert services, "St. Patrick Center offers housing in the seed directory"

    # casework: the participant's consent to tell St. Patrick Center their contact details
    consent = call("POST", f"{casework}/v1/participants/{case['participant_id']}/consents", supervisor, 201, json={
        "discloser": "St. Louis Circuit Attorney's Office Diversion Unit", "categories": ["contact_info"],
        "recipient_org_id": org["id"], "recipient_name": org["name"], "purposes": ["service_referral"],
        "right_to_revoke_acknowledged": True, "revocation_instructions": "tell your case manager in writing",
        "expires_on": (today + dt.timedelta(days=365)).isoformat(),
        "signature": {"signed_by": "Jordan Example", "method": "electronic", "signed_on": today.isoformat()},
    }).json()
    assert consent["missing_elements"] == []

    # notifications: the partner subscribes a webhook (a local receiver plays the partner)
    receiver = Receiver()
    partner = make_token("stl-cao", ("partner",), org=org["id"], sub="st-patrick-intake")
    subscription = call("POST", f"{notifications}/v1/subscriptions", partner, 201,
                        json={"url": receiver.url, "event_types": ["service_referral.requested"]}).json()

    # resources: refer the participant (consent checked over RPC with casework), partner hears of it
    service_referral = call("POST", f"{resources}/v1/service-referrals", supervisor, 201, json={
        "case_id": case["id"], "participant_id": case["participant_id"], "participant_name": "Jordan Example",
        "contact": {"phone": "+13145550100"}, "need": "stable housing", "need_category": "housing",
        "service_id": services[0]["id"], "consent": {"categories": ["contact_info"], "purpose": "service_referral"},
    }).json()
    headers, body = wait_for(lambda: receiver.received and receiver.received[0], 30, "signed webhook")
    payload = Webhook(subscription["secret"]).verify(body, headers)
    assert service_referral["id"] in json.dumps(payload)
    assert "2611-CR" not in body.decode() and "570.030" not in body.decode()  # never charges or case numbers

    # resources: the partner accepts
    mine = call("GET", f"{resources}/v1/service-referrals/{service_referral['id']}", partner, 200)
    call("PATCH", f"{resources}/v1/service-referrals/{service_referral['id']}", partner, 200,
         json={"status": "accepted"}, headers={"If-Match": mine.headers["ETag"]})

    # casework: completed with a dismissal (a supervisor overrides the six-month minimum for the test)
    current = call("GET", f"{casework}/v1/cases/{case['id']}", supervisor, 200)
    call("POST", f"{casework}/v1/cases/{case['id']}/transitions", supervisor, 200,
         json={"action": "complete", "disposition": "dismissal", "override_reason": "end-to-end test"},
         headers={"If-Match": current.headers["ETag"]})

    # intake: the disposition comes back to the prosecution record
    def disposed() -> bool:
        return call("GET", f"{intake}/v1/referrals/{referral_id}", supervisor, 200).json()["disposition"] == "dismissal"

    wait_for(disposed, 30, "disposition back in intake")

    # audit trail: the decision, and every read of the person's record
    trail = call("GET", f"{intake}/v1/audit", auditor, 200, params={"resource_id": referral_id, "limit": 200})
    actions = {row["action"] for row in trail.json()["items"]}
    assert any("read" in action for action in actions), actions
    assert any("accept" in action or "decision" in action for action in actions), actions
