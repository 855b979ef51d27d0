"""Notifications killed with SIGKILL mid-run with 60 deliveries due, then started again as an operator would:
every delivery arrives within 30 s of the restart, and the ones sent twice are exactly the ones counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from notifications_events import referral_requested
from notifications_support import Received, Reply, publish_many, wait_for
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from services.notifications.models import Delivery
from tests.conftest import AMQP_URI, JWT_SECRET, free_port, make_token

ROOT = Path(__file__).resolve().parents[3]
DUE, ANSWERED_FIRST, CONCURRENCY = 60, 10, 25


class ServiceProcess:
    """`diversion serve notifications` in its own OS process, as `make run` or a container runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.popen: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{env['DIVERSION_NOTIFICATIONS_HTTP_PORT']}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "shared.main", "serve", "notifications"],
                                          env=self.env, stdout=out, stderr=subprocess.STDOUT)

        def ready() -> bool:
            assert self.popen is not None and self.popen.poll() is None, self.log.read_text()[-3000:]
            try:
                return requests.get(f"{self.url}/readyz", timeout=5).status_code == 200
            except requests.RequestException:  # not listening yet, or too busy starting to answer in time
                return False

        wait_for(ready, 60, "notifications to be ready", every=0.1)

    def sigkill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        assert self.popen.wait(10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


@pytest.fixture
def service(notifications_db: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIVERSION_")}
    env.update({
        "PYTHONPATH": str(ROOT), "DIVERSION_AMQP_URI": AMQP_URI, "DIVERSION_DATA_DIR": str(tmp_path),
        "DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_LOG_FORMAT": "text",
        # The key the test's publisher signs events with (ADR 0011): without it every event is refused.
        "DIVERSION_MESSAGE_SIGNING_KEY": os.environ["DIVERSION_MESSAGE_SIGNING_KEY"],
        "DIVERSION_NOTIFICATIONS_DATABASE_URL": notifications_db,
        "DIVERSION_NOTIFICATIONS_HTTP_PORT": str(free_port()),
        "DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST": "127.0.0.1",
        "DIVERSION_NOTIFICATIONS_DISPATCH_CONCURRENCY": str(CONCURRENCY),
        # Sends held by the receiver stay in flight until the kill; heartbeat and lease keep their defaults.
        "DIVERSION_NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS": "60",
    })
    process = ServiceProcess(env, tmp_path / "notifications.log")
    yield process
    process.stop()


def resent(url: str, reason: str) -> float:
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f'diversion_notifications_deliveries_resent_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no deliveries_resent_total metric")


def test_notifications_killed_mid_run_delivers_all_60_within_30_s_of_the_restart(
    service, make_receiver, agency, notifications_db
):
    gate = threading.Event()
    answered = [0]
    receiver = make_receiver()

    def first_ten_then_held(request: Received) -> Reply:
        if answered[0] < ANSWERED_FIRST:
            answered[0] += 1
            return 200, {}, b"ok"
        gate.wait(60)  # in flight when the process dies: sent, never recorded
        return 200, {}, b"late"

    receiver.reply = first_ten_then_held
    service.start()
    token = make_token(agency, ("partner",), org="org-a")
    response = requests.post(f"{service.url}/v1/subscriptions", json={"url": receiver.url},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 201, response.text
    publish_many([referral_requested(agency, "org-a") for _ in range(DUE)])

    engine = create_engine(notifications_db)

    def statuses() -> Counter[str]:
        with Session(engine) as session:
            return Counter(dict(session.execute(  # type: ignore[arg-type]
                select(Delivery.status, func.count()).group_by(Delivery.status)).all()))

    held = CONCURRENCY
    mid_run = {"delivered": ANSWERED_FIRST, "sending": held, "pending": DUE - ANSWERED_FIRST - held}
    wait_for(lambda: statuses() == mid_run and len(receiver.requests) == ANSWERED_FIRST + held, timeout=60,
             what=f"{ANSWERED_FIRST} delivered, {held} in flight, the rest due")
    service.sigkill()
    receiver.reply = lambda request: (200, {}, b"ok")
    gate.set()

    restarted = time.monotonic()
    service.start()
    wait_for(lambda: statuses() == {"delivered": DUE}, timeout=45, what=f"all {DUE} delivered", every=0.1)
    took = time.monotonic() - restarted
    engine.dispose()

    ids = Counter(request.headers["webhook-id"] for request in receiver.requests)
    duplicates = sum(n - 1 for n in ids.values())
    counted = resent(service.url, "instance_stopped") + resent(service.url, "lease_expired")
    print(f"\nnotifications SIGKILLed with {DUE} due: {ANSWERED_FIRST} delivered before, {held} in flight, "
          f"{DUE - ANSWERED_FIRST - held} unclaimed; all {DUE} delivered {took:.1f} s after the restart "
          f"(incl. its start); {duplicates} sent twice, {counted:g} counted as re-sent")
    assert took < 30
    assert len(ids) == DUE
    assert duplicates == held == counted  # exactly the sends that were in flight, each counted
