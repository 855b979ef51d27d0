"""`diversion run` supervises: a service killed with SIGKILL is started again and says so, while the other
three answer /healthz all the while; Ctrl-C still stops everything. The real command, as `make run` runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import AMQP_URI, JWT_SECRET, free_port
from tests.support.waiting import wait_for

SERVICES = ("intake", "casework", "resources", "notifications")
ROOT = Path(__file__).resolve().parents[2]


class Run:
    def __init__(self, tmp: Path) -> None:
        self.ports = {s: free_port() for s in SERVICES}
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIVERSION_")}
        env.update({"PYTHONPATH": str(ROOT), "DIVERSION_AMQP_URI": AMQP_URI, "DIVERSION_DATA_DIR": str(tmp / "var"),
                    "DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_LOG_FORMAT": "text"})
        for s, port in self.ports.items():
            env[f"DIVERSION_{s.upper()}_HTTP_PORT"] = str(port)  # each service on its own SQLite under var/
        self.console = tmp / "console.log"
        with self.console.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "shared.main", "run", "--no-seed", "--timeout", "120",
                 "--mail-port", str(free_port())], env=env, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # as a script's background job
        self.pids: set[int] = set()

    def said(self) -> str:
        return self.console.read_text(errors="replace")

    def pid_of(self, name: str) -> int:
        found = re.findall(rf"^  {name}\s.*pid (\d+)\)", self.said(), re.MULTILINE)
        return int(found[-1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


@pytest.fixture
def suite(tmp_path: Path) -> Iterator[Run]:
    run = Run(tmp_path)
    yield run
    if run.popen.poll() is None:
        run.popen.send_signal(signal.SIGTERM)  # stops its children, then exits
        run.popen.wait(60)
    for pid in run.pids:  # only if the runner itself failed to stop them
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_a_killed_service_is_restarted_while_the_others_keep_serving_and_ctrl_c_stops_all(suite):
    wait_for(lambda: "Press Ctrl-C to stop." in suite.said() or suite.popen.poll() is not None, timeout=180,
             what="the four services ready", every=0.2)
    assert suite.popen.poll() is None, suite.said()[-3000:]
    first = {name: suite.pid_of(name) for name in SERVICES}
    suite.pids.update(first.values())

    others = [name for name in SERVICES if name != "casework"]
    polls: list[tuple[str, bool]] = []
    watching = threading.Event()
    watching.set()

    def watch() -> None:
        while watching.is_set():
            for name in others:
                polls.append((name, answers(f"{suite.url(name)}/healthz")))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        os.kill(first["casework"], signal.SIGKILL)
        wait_for(lambda: "casework: ready again" in suite.said(), timeout=120, what="casework restarted and ready",
                 every=0.2)
    finally:
        watching.clear()
        watcher.join(10)
    console = suite.said()
    assert f"casework: killed by SIGKILL (pid {first['casework']}); the other services keep serving; " \
           "starting it again in 1 s" in console
    restarted = int(re.findall(r"casework: started again \(pid (\d+), restart 1\)", console)[-1])
    suite.pids.add(restarted)
    assert restarted != first["casework"] and answers(f"{suite.url('casework')}/readyz")
    failed = [name for name, ok in polls if not ok]
    print(f"\ncasework SIGKILLed and restarted; {len(polls)} /healthz calls to the other three meanwhile, "
          f"{len(failed)} failed:\n" + "\n".join(line for line in console.splitlines() if line.startswith("casework:")))
    assert len(polls) >= 3 * len(others) and failed == [], f"{len(failed)} of {len(polls)} /healthz failed"
    assert all(answers(f"{suite.url(name)}/readyz") for name in others)

    suite.popen.send_signal(signal.SIGINT)  # Ctrl-C
    assert suite.popen.wait(60) == 0
    assert "all services stopped" in suite.said()
    for pid in [restarted, *(first[name] for name in others)]:
        wait_for(lambda pid=pid: not alive(pid), timeout=10, what=f"pid {pid} to be gone")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
