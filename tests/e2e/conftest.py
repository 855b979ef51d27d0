"""The four services as separate processes, the way `make run` runs them, on the real broker and PostgreSQL
(each service its own database, dropped afterwards), with a local mail catcher; and the steps tests share."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from shared import migrations
from shared.mailcatcher import MailCatcher
from tests.conftest import AMQP_URI, JWT_SECRET, create_database, drop_database, free_port, make_token
from tests.support.waiting import wait_for

SERVICES = ("intake", "casework", "resources", "notifications")
ROOT = Path(__file__).resolve().parents[2]
AGENCY = "stl-cao"


@dataclass
class Suite:
    urls: dict[str, str]
    databases: dict[str, str]
    logs: Path


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailCatcher]:
    """The local mail catcher `make run` starts, here on a free port."""
    with MailCatcher(tmp_path_factory.mktemp("mail"), port=free_port()) as catcher:
        yield catcher


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, mail: MailCatcher) -> Iterator[Suite]:
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
        yield Suite(urls=urls, databases=databases, logs=tmp)
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


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A partner's webhook endpoint on loopback (tests/e2e/partners.py)."""
    from tests.e2e.partners import Receiver

    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def suite(running: Suite) -> dict[str, str]:
    """The four services' base URLs."""
    return running.urls


def call(method: str, url: str, token: str, expect: int, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    response = requests.request(method, url, headers=headers, timeout=20, **kwargs)
    assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.text[:1500]}"
    return response


def token(*roles: str, sub: str | None = None, org: str | None = None, agency: str = AGENCY) -> str:
    return make_token(agency, roles, sub=sub or f"{roles[0]}-1", org=org)


@dataclass
class OpenCase:
    """A referral accepted in intake, its case opened and assigned in casework (learnt by resources)."""

    case: dict[str, Any]
    case_manager: str  # the assigned case manager's token
    first_name: str

    @property
    def participant_id(self) -> str:
        return str(self.case["participant_id"])


def open_case(urls: dict[str, str], first_name: str = "Jordan", last_name: str | None = None,
              date_of_birth: str = "2003-04-05") -> OpenCase:
    """Screen and accept a referral in intake; wait until casework has opened and assigned its case."""
    screener, supervisor = token("screener"), token("supervisor")
    today = dt.date.today()
    referral = call("POST", f"{urls['intake']}/v1/referrals", screener, 201, json={
        "source": "police", "case_number": f"2611-CR{uuid.uuid4().hex[:6].upper()}",
        "defendant": {"first_name": first_name, "last_name": last_name or f"Example{uuid.uuid4().hex[:6]}",
                      "date_of_birth": date_of_birth, "phone": "+13145550100", "email": "jordan@example.org"},
        "charges": [{"statute": "570.030", "description": "Stealing", "offense_class": "felony_d",
                     "offense_date": (today - dt.timedelta(days=30)).isoformat(), "violent": None}],
        "history": {"convictions": [], "prior_diversions": [], "pending_cases": 0},
    })
    referral_id = referral.json()["id"]
    call("POST", f"{urls['intake']}/v1/referrals/{referral_id}/decision", screener, 200,
         json={"action": "accept", "program": "young-adult"}, headers={"If-Match": referral.headers["ETag"]})

    def opened() -> dict[str, Any] | None:
        items = call("GET", f"{urls['casework']}/v1/cases", supervisor, 200,
                     params={"referral_id": referral_id}).json()["items"]
        found = [c for c in items if c["case_manager_id"]]
        return found[0] if found else None

    case = wait_for(opened, 60, "case opened and assigned")
    staff = call("GET", f"{urls['casework']}/v1/staff/{case['case_manager_id']}", supervisor, 200).json()
    return OpenCase(case=case, case_manager=token("case_manager", sub=staff["subject"]), first_name=first_name)


def record_consent(urls: dict[str, str], participant_id: str, org_id: str, categories: list[str],
                   org_name: str = "Partner") -> dict[str, Any]:
    """A complete, signed 42 CFR 2.31 consent to disclose `categories` to `org_id` for service referrals."""
    today = dt.date.today()
    return call("POST", f"{urls['casework']}/v1/participants/{participant_id}/consents", token("supervisor"), 201,
                json={"discloser": "St. Louis Circuit Attorney's Office Diversion Unit", "categories": categories,
                      "recipient_org_id": org_id, "recipient_name": org_name, "purposes": ["service_referral"],
                      "right_to_revoke_acknowledged": True, "revocation_instructions": "tell your case manager",
                      "expires_on": (today + dt.timedelta(days=365)).isoformat(),
                      "signature": {"signed_by": "the participant", "method": "electronic",
                                    "signed_on": today.isoformat()}}).json()


def revoke_consent(urls: dict[str, str], participant_id: str, consent_id: str) -> dict[str, Any]:
    path = f"{urls['casework']}/v1/participants/{participant_id}/consents/{consent_id}"
    current = call("GET", path, token("supervisor"), 200)
    return call("POST", f"{path}/revocation", token("supervisor"), 200, json={"method": "written"},
                headers={"If-Match": current.headers["ETag"]}).json()
