"""The local runner's supervisor: a child that dies is started again after 1 s, 2 s, 4 s ... (capped), the
wait back at 1 s once it had stayed up; stopping restarts nothing. Real child processes, a manual clock."""

from __future__ import annotations

import os
import signal
import sys

from shared.supervisor import Supervisor
from tests.support.waiting import wait_for

CRASH = [sys.executable, "-c", "import sys; sys.exit(7)"]
LIVE = [sys.executable, "-c", "import time; time.sleep(60)"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def crash_once_more(supervisor: Supervisor, said: list[str]) -> str:
    """Wait for the crasher to exit, let the supervisor notice; returns what it said."""
    wait_for(lambda: supervisor.exited().get("crasher") == 7, what="the crasher to exit")
    supervisor.check()
    return said[-1]


def test_a_crashing_service_is_restarted_with_doubling_backoff_capped_and_reset_after_it_stayed_up():
    said: list[str] = []
    clock = Clock()
    supervisor = Supervisor({"crasher": CRASH, "steady": LIVE}, {}, said.append, first_backoff=1, max_backoff=4,
                            stable_after=30, clock=clock)
    supervisor.start_all()
    steady = supervisor.pid("steady")
    try:
        waits = []
        for _ in range(4):
            message = crash_once_more(supervisor, said)
            assert message.startswith("crasher: exited with code 7") and "keep serving" in message
            waits.append(message.rsplit("in ", 1)[1])
            clock.now += 0.5
            supervisor.check()
            assert said[-1] == message  # not before its backoff is over
            clock.now += 4
            supervisor.check()
            assert said[-1].startswith("crasher: started again")
        assert waits == ["1 s", "2 s", "4 s", "4 s"]
        clock.now += 30  # it stays up for 30 s before the next crash
        assert crash_once_more(supervisor, said).endswith("in 1 s")
        assert supervisor.pid("steady") == steady  # the other service was never touched
    finally:
        assert supervisor.stop_all(timeout=10) == []
    clock.now += 100
    supervisor.check()
    assert supervisor.pid("steady") is None and supervisor.pid("crasher") is None
    assert not said[-1].startswith("crasher: started again")


def test_a_killed_child_is_reported_by_its_signal():
    said: list[str] = []
    clock = Clock()
    supervisor = Supervisor({"svc": LIVE}, {}, said.append, clock=clock)
    supervisor.start_all()
    try:
        pid = supervisor.pid("svc")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: "svc" in supervisor.exited(), what="the child to die")
        supervisor.check()
        assert said[-1].startswith(f"svc: killed by SIGKILL (pid {pid})")
        clock.now += 1
        supervisor.check()
        assert supervisor.pid("svc") not in (None, pid)
    finally:
        supervisor.stop_all(timeout=10)
