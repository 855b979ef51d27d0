"""Fixtures of the outage tests: a mail catcher and a vhost of their own on the machine's broker."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from outage_support import MailSink

SHARED_BROKER = "amqp://guest:guest@127.0.0.1:5672"


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailSink]:
    (tmp_path / "mail").mkdir()
    sink = MailSink(tmp_path / "mail").start()
    yield sink
    sink.stop()


@pytest.fixture
def own_vhost() -> Iterator[str]:
    """A vhost of this test's own on the machine's broker (created and deleted with rabbitmqctl, as the root
    conftest does for the run), so no other test's services or leftovers share its queues."""
    name = f"diversion-outage-{uuid.uuid4().hex[:8]}"

    def ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120)

    ctl("add_vhost", name)
    ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield f"{SHARED_BROKER}/{name}"
    ctl("delete_vhost", name)
