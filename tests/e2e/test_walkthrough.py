"""One referral from intake to dismissal across the four services, run as separate processes the way
`make run` runs them, on the real broker and PostgreSQL: the same walkthrough `diversion demo` prints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from shared import migrations
from shared.mailcatcher import MailCatcher, text_of
from tests.conftest import AMQP_URI, JWT_SECRET, create_database, drop_database, free_port, make_token
from tests.support.waiting import wait_for

SERVICES = ("intake", "casework", "resources", "notifications")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailCatcher]:
    """The local mail catcher `make run` starts, here on a free port."""
    with MailCatcher(tmp_path_factory.mktemp("mail"), port=free_port()) as catcher:
        yield catcher


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory, mail: MailCatcher) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("suite")
    names = {s: f"diversion_test_e2e_{s}_{os.getpid()}" for s in SERVICES}
    databases = {s: create_database(n) for s, n in names.items()}
    ports = {s: free_port() for s in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIVERSION_")}
    env.update({"PYTHONPATH": str(ROOT), "DIVERSION_AMQP_URI": AMQP_URI, "DIVERSION_DATA_DIR": str(tmp),
                "DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST": "127.0.0.1",
                # as `make run` sets them: email to the catcher, quiet hours off, reminders 24 h and 2 h before
                "DIVERSION_NOTIFICATIONS_SMTP_HOST": "127.0.0.1", "DIVERSION_NOTIFICATIONS_SMTP_PORT": str(mail.port),
                "DIVERSION_NOTIFICATIONS_QUIET_HOURS_ENABLED": "false",
                "DIVERSION_NOTIFICATIONS_REMINDER_OFFSETS": "24h,2h"})
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
                    if requests.get(f"{urls[s]}/readyz", timeout=5).status_code != 200:
                        return False
                except requests.RequestException:  # not listening yet, or too busy starting to answer in time
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


def test_one_referral_travels_from_intake_to_dismissal_across_all_four_services(suite, mail):
    from shared.demo import PARTICIPANT_EMAIL, Step, Walkthrough

    steps: list[Step] = []
    out = Walkthrough(suite, make_token, steps.append, reminder_lead=timedelta(hours=2), mailbox=mail.messages).run()

    young_adult = next(p for p in out.screening["programs"] if p["program"] == "young-adult")
    assert young_adult["status"] == "eligible"
    assert all(c["reason"] for c in young_adult["criteria"])
    assert out.case["state"] == "active" and out.case["program_id"] == "young-adult"
    # the partner's copy verified with the Standard Webhooks reference library inside the walkthrough
    assert out.service_referral_id in json.dumps(out.webhook_payload)
    body = out.webhook_body.decode()
    assert "2611-CR" not in body and "570.030" not in body  # never charges or case numbers
    assert out.disposition == "dismissal"
    # the partner's answer came back to casework as an event and moved the linked goal of the support plan
    assert out.goal["status"] == "in_progress" and out.goal["domain"] == "housing"
    assert out.goal["service_referral_ids"] == [out.service_referral_id]

    # the appointment's 2-hour reminder reached the participant's inbox, through the real SMTP channel
    assert out.reminder["status"] == "queued" and out.reminder["offset_minutes"] == 120
    assert out.reminder_delivery["status"] == "delivered" and out.reminder_delivery["channel"] == "email"
    reminder = out.reminder_mail
    assert reminder is not None and PARTICIPANT_EMAIL in reminder["X-Envelope-To"]
    assert PARTICIPANT_EMAIL in reminder["To"]
    assert "Diversion Unit office" in text_of(reminder) and "Jordan" in text_of(reminder)
    assert "2611-CR" not in reminder.as_string() and "570.030" not in reminder.as_string()
    assert {step.service for step in steps} == set(SERVICES)

    # exactly one case for the referral, and the audit trail of the decision and of reads of the record
    supervisor = make_token("stl-cao", ("supervisor",), sub="supervisor-1")
    auditor = make_token("stl-cao", ("auditor",), sub="auditor-1")
    cases = call("GET", f"{suite['casework']}/v1/cases?limit=200", supervisor, 200).json()["items"]
    assert len([c for c in cases if c["referral_id"] == out.referral_id]) == 1
    trail = call("GET", f"{suite['intake']}/v1/audit", auditor, 200,
                 params={"resource_id": out.referral_id, "limit": 200})
    actions = {row["action"] for row in trail.json()["items"]}
    assert any("read" in action for action in actions), actions
    assert any("accept" in action or "decision" in action for action in actions), actions


def call(method: str, url: str, token: str, expect: int, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    response = requests.request(method, url, headers=headers, timeout=20, **kwargs)
    assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.text[:1500]}"
    return response
