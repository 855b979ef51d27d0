"""Monkey-patch eventlet before anything else is imported: nameko 2.14's pytest plugin no longer does.

Each test run also gets a RabbitMQ virtual host of its own on the machine's broker (created here, before any
test module reads `DIVERSION_TEST_AMQP_URI`, and deleted when the run ends), so a `make run` suite or a
second test run on the same broker can never take this run's events, and no test sees what another left.
Set `DIVERSION_TEST_AMQP_URI` yourself to use a broker or vhost of your choosing instead.
"""

import os
import subprocess
import uuid
import warnings

# eventlet warns on import that it is in maintenance mode (shared/__init__.py says why we keep it).
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

import shared  # noqa: E402, F401 - installs the same filter for the processes that do not load this file

eventlet.monkey_patch()

_BROKER = "amqp://guest:guest@127.0.0.1:5672"
_OWN_VHOST: str | None = None


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120)


if "DIVERSION_TEST_AMQP_URI" not in os.environ:
    _OWN_VHOST = f"diversion-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        _rabbitmqctl("add_vhost", _OWN_VHOST)
        _rabbitmqctl("set_permissions", "-p", _OWN_VHOST, "guest", ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError) as exc:
        raise SystemExit(
            f"could not create the test run's own RabbitMQ vhost {_OWN_VHOST!r} with rabbitmqctl ({exc}); "
            "run the tests as a user that may run rabbitmqctl, or set DIVERSION_TEST_AMQP_URI"
        ) from exc
    os.environ["DIVERSION_TEST_AMQP_URI"] = f"{_BROKER}/{_OWN_VHOST}"


def pytest_unconfigure(config: object) -> None:
    if _OWN_VHOST is not None:
        try:
            _rabbitmqctl("delete_vhost", _OWN_VHOST)
        except (OSError, subprocess.SubprocessError):
            pass  # best effort: the next run's vhost has another name anyway
