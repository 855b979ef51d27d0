"""Keep the local suite's service processes running: a crashed one is started again, with backoff.

`diversion run` starts the four services as child processes. When one exits on its own (a crash, an
out-of-memory kill, a SIGKILL), the others keep serving and it is started again after 1 s, then 2 s,
4 s ... up to `max_backoff`; the wait goes back to 1 s once a child has stayed up for `stable_after`
seconds. Every exit, restart and return to readiness is said on the console. `stop_all()` (Ctrl-C)
stops every child and restarts none.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class Child:
    name: str
    command: list[str]
    ready_url: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None  # waiting to be started again
    restarts: int = 0
    awaiting_ready: bool = False
    pids: list[int] = field(default_factory=list)  # every process it ran as, oldest first


class Supervisor:
    """Starts, watches and restarts named child processes; call `check()` often (every 0.2–0.5 s)."""

    def __init__(
        self, commands: dict[str, list[str]], env: dict[str, str], say: Callable[[str], None],
        ready_urls: dict[str, str] | None = None, first_backoff: float = 1.0, max_backoff: float = 30.0,
        stable_after: float = 30.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env, self.say, self.clock = env, say, clock
        self.first_backoff, self.max_backoff, self.stable_after = first_backoff, max_backoff, stable_after
        self.children = {
            name: Child(name, command, (ready_urls or {}).get(name), backoff=first_backoff)
            for name, command in commands.items()
        }
        self.stopping = False

    def start_all(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.popen = subprocess.Popen(
            child.command, env=self.env,
            start_new_session=True,  # Ctrl-C reaches the supervisor once; it stops the children in order
        )
        child.started_at = self.clock()
        child.restart_at = None
        child.pids.append(child.popen.pid)

    def pid(self, name: str) -> int | None:
        popen = self.children[name].popen
        return popen.pid if popen is not None and popen.poll() is None else None

    def exited(self) -> dict[str, int]:
        """Children whose process has ended and is not yet started again: name -> exit code."""
        return {
            name: child.popen.returncode for name, child in self.children.items()
            if child.popen is not None and child.popen.poll() is not None
        }

    def check(self) -> None:
        """Notice exits, start again those whose backoff is over, report those ready again."""
        if self.stopping:
            return
        now = self.clock()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
                    child.awaiting_ready = child.ready_url is not None
                    assert child.popen is not None
                    self.say(f"{child.name}: started again (pid {child.popen.pid}, restart {child.restarts})")
                continue
            if child.popen is None:
                continue
            code = child.popen.poll()
            if code is None:
                if child.awaiting_ready and _answers(child.ready_url):
                    child.awaiting_ready = False
                    self.say(f"{child.name}: ready again after {now - child.started_at:.1f} s")
                continue
            if now - child.started_at >= self.stable_after:
                child.backoff = self.first_backoff  # it had stayed up: a new crash is not a crash loop
            delay = child.backoff
            child.backoff = min(child.backoff * 2, self.max_backoff)
            child.restart_at = now + delay
            child.awaiting_ready = False
            self.say(f"{child.name}: {exit_reason(code)} (pid {child.popen.pid}); the other services keep "
                     f"serving; starting it again in {delay:g} s")

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        """SIGTERM every running child, wait up to `timeout`, SIGKILL the rest; returns those killed."""
        self.stopping = True
        for child in self.children.values():
            if child.popen is not None and child.popen.poll() is None:
                child.popen.send_signal(signal.SIGTERM)
        deadline = self.clock() + timeout
        killed = []
        for child in self.children.values():
            if child.popen is None:
                continue
            try:
                child.popen.wait(timeout=max(0.1, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait(10)
                killed.append(child.name)
        return killed


def _answers(url: str | None) -> bool:
    if url is None:
        return False
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
