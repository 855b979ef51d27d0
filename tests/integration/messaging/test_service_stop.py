"""Stopping a service process: in-flight work finishes, and a stop never hangs on a broker that is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from messaging_support import wait_for

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[3]


def _start_intake(broker: Any, tmp_path: Path, **settings: str) -> tuple[subprocess.Popen[bytes], Path]:
    port = free_port()
    env = {
        **os.environ,
        "DIVERSION_AMQP_URI": broker.uri,
        "DIVERSION_DATA_DIR": str(tmp_path / "var"),
        "DIVERSION_INTAKE_HTTP_PORT": str(port),
        "DIVERSION_LOG_FORMAT": "text",
        **settings,
    }
    cli = [sys.executable, "-m", "shared.main"]
    subprocess.run([*cli, "migrate", "intake"], env=env, cwd=REPO, check=True, capture_output=True, timeout=60)
    log = tmp_path / "intake.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*cli, "serve", "intake"], env=env, cwd=REPO, stdout=out, stderr=out)

    def ready() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    wait_for(ready, 30, "intake to be ready", every=0.3)
    return process, log


def test_sigterm_stops_the_service_cleanly_while_the_broker_is_up(own_broker: Any, tmp_path: Path) -> None:
    # A stop timeout far above what a clean stop takes on a loaded machine: exiting 0 without the timeout's message
    # means it finished its work and stopped, not that the timeout cut it short.
    process, log = _start_intake(own_broker, tmp_path, DIVERSION_STOP_TIMEOUT_SECONDS="45")
    try:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, log.read_text()[-3000:]
    assert "exiting without finishing" not in log.read_text()


def test_sigterm_with_the_broker_gone_exits_after_the_stop_timeout(own_broker: Any, tmp_path: Path) -> None:
    process, log = _start_intake(own_broker, tmp_path, DIVERSION_STOP_TIMEOUT_SECONDS="3")
    try:
        own_broker.stop()
        wait_for(lambda: "Error connecting to broker" in log.read_text(), 30, "intake to notice the broker is gone")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)  # without the stop timeout nameko waits for the broker forever
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 4, log.read_text()[-3000:]
    assert 2.5 < took < 20
    assert "not stopped after 3 s (is the broker down?); exiting without finishing in-flight work" in log.read_text()


def test_a_second_signal_while_stopping_exits_at_once(own_broker: Any, tmp_path: Path) -> None:
    process, log = _start_intake(own_broker, tmp_path, DIVERSION_STOP_TIMEOUT_SECONDS="120")
    try:
        own_broker.stop()
        wait_for(lambda: "Error connecting to broker" in log.read_text(), 30, "intake to notice the broker is gone")
        process.send_signal(signal.SIGINT)
        wait_for(lambda: "stopping services: intake" in log.read_text(), 10, "intake to begin stopping")
        assert process.poll() is None, "the first signal waits for in-flight work"
        process.send_signal(signal.SIGINT)
        code = process.wait(15)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 4
    assert "SIGINT again while stopping" in log.read_text()
