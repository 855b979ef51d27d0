"""Operating the spine: settings refused at start, readiness through a database outage, migrations both
ways on both databases, locally issued tokens, and the suite's run command."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from shared import migrations
from shared.db import make_engine
from shared.mailcatcher import read_mailbox
from tests.conftest import AMQP_URI, PG_ADMIN_DSN, create_database, drop_database, free_port
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for

SERVICES = ("intake", "casework", "resources", "notifications")
DIVERSION = [sys.executable, "-m", "shared.main"]
ROOT = Path(__file__).resolve().parents[2]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DIVERSION_")}
    env.update({"DIVERSION_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), **extra})
    return env


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DIVERSION_INTAKE_HTTP_PORT", "eighty"),
        ("DIVERSION_INTAKE_DATABASE_URL", "mysql://nope/x"),
        ("DIVERSION_AMQP_URI", "http://localhost"),
        ("DIVERSION_JWT_ALGORITHM", "none"),
    ],
)
def test_service_refuses_to_start_on_an_invalid_setting_naming_it(tmp_path, variable, value):
    result = subprocess.run(DIVERSION + ["serve", "intake"], env=clean_env(tmp_path, **{variable: value}),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_readyz_turns_503_while_the_database_is_unreachable_and_recovers(start_service):
    proxy = TcpProxy("127.0.0.1", 5432).start()
    name = f"diversion_test_outage_{os.getpid()}"
    url = create_database(name)
    try:
        migrations.upgrade("casework", url)
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        api = start_service("casework", database_url=proxied)
        assert api.get("/readyz").status_code == 200
        proxy.cut()
        outage = wait_for(lambda: (r := api.get("/readyz")).status_code == 503 and r.json())
        assert outage["checks"]["database"].startswith("unreachable")
        # like every non-2xx answer, an RFC 9457 problem document
        answer = api.get("/readyz")
        assert answer.status_code == 503
        assert answer.headers["Content-Type"] == "application/problem+json"
        problem = answer.json()
        assert problem["status"] == 503 and problem["type"].endswith("/not-ready")
        assert problem["title"] and "database unreachable" in problem["detail"]
        assert problem["instance"] == "/readyz" and problem["service"] == "casework"
        proxy.restore()
        wait_for(lambda: api.get("/readyz").status_code == 200)
    finally:
        proxy.cut()
        drop_database(name)


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_go_empty_to_head_to_empty_on_postgresql(service):
    name = f"diversion_test_mig_{service}_{os.getpid()}"
    url = create_database(name)
    try:
        engine = make_engine(url)
        migrations.upgrade(service, url)
        assert migrations.current_revision(engine, service) == migrations.head_revision(service)
        migrations.downgrade(service, url)
        assert migrations.current_revision(engine, service) is None
        with engine.connect() as connection:
            from sqlalchemy import inspect

            leftover = set(inspect(connection).get_table_names()) - {migrations.version_table(service)}
        assert leftover == set()
        engine.dispose()
    finally:
        drop_database(name)


@pytest.mark.sqlite
@pytest.mark.parametrize("service", SERVICES)
def test_migrations_go_empty_to_head_to_empty_on_sqlite(service, tmp_path):
    url = f"sqlite:///{tmp_path}/{service}.db"
    engine = make_engine(url)
    migrations.upgrade(service, url)
    assert migrations.current_revision(engine, service) == migrations.head_revision(service)
    migrations.downgrade(service, url)
    from sqlalchemy import inspect

    with engine.connect() as connection:
        leftover = set(inspect(connection).get_table_names()) - {migrations.version_table(service)}
    assert leftover == set()
    engine.dispose()


def test_audit_table_is_append_only_on_postgresql(pg_databases):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from shared.audit import write_audit_now

    engine = make_engine(pg_databases["intake"])
    write_audit_now(engine, service="intake", action="test.appended", outcome="success", identity=None,
                    resource_type="test", resource_id="1", source_ip=None, request_id=None, detail=None)
    for statement in ("UPDATE audit_event SET outcome = 'failure'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    engine.dispose()


def _run_suite(tmp_path: Path, ports: dict[str, int], mail_port: int, **extra: str) -> subprocess.Popen[str]:
    # This run's own vhost (the root conftest's), never the default one a `make run` suite on the same broker uses.
    env = clean_env(tmp_path, **{"DIVERSION_AMQP_URI": AMQP_URI, **extra})
    for service, port in ports.items():
        env[f"DIVERSION_{service.upper()}_HTTP_PORT"] = str(port)
    # Started with SIGINT ignored, as a shell script's background job starts it: Ctrl-C must stop it all the same
    # (and the test then does not depend on how pytest itself was started).
    return subprocess.Popen(DIVERSION + ["run", "--mail-port", str(mail_port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path, preexec_fn=_ignore_sigint)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
def test_run_starts_all_four_services_ready_within_30_seconds_and_ctrl_c_stops_them(tmp_path):
    ports = {service: free_port() for service in SERVICES}
    mail_port = free_port()
    started = time.monotonic()
    suite = _run_suite(tmp_path, ports, mail_port)
    try:
        def all_ready() -> bool:
            assert suite.poll() is None, suite.stdout.read() if suite.stdout else ""
            for port in ports.values():
                try:
                    if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code != 200:
                        return False
                except requests.RequestException:  # not listening yet, or too busy to answer in time
                    return False
            return True

        wait_for(all_ready, timeout=30, what="all four services to be ready", every=0.5)
        assert time.monotonic() - started < 30

        token = subprocess.run(DIVERSION + ["token", "--agency", "stl-cao", "--role", "screener"],
                               env=clean_env(tmp_path), capture_output=True, text=True, check=True,
                               cwd=tmp_path).stdout.strip()
        programs = requests.get(f"http://127.0.0.1:{ports['intake']}/v1/programs",
                                headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert programs.status_code == 200
        assert {p["slug"] for p in programs.json()} >= {"young-adult", "first-diversion"}

        # Email from the local suite lands in the mail catcher under the data directory, nowhere else.
        with smtplib.SMTP("127.0.0.1", mail_port, timeout=5) as smtp:
            smtp.sendmail("no-reply@localhost", ["someone@example.org"], b"Subject: caught\r\n\r\nhello\r\n")
        (caught,) = read_mailbox(tmp_path / "mail")
        assert caught["Subject"] == "caught" and "someone@example.org" in caught["X-Envelope-To"]
    finally:
        suite.send_signal(signal.SIGINT)
        output, _ = suite.communicate(timeout=40)
    assert suite.returncode == 0, output
    assert "all services stopped" in output
    assert f"mail: caught on 127.0.0.1:{mail_port}" in output
    for port in [*ports.values(), mail_port]:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)


def test_run_without_a_broker_says_how_to_start_one(tmp_path):
    result = subprocess.run(DIVERSION + ["run"], env=clean_env(tmp_path, DIVERSION_AMQP_URI="amqp://guest:guest@127.0.0.1:1/"),
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 3
    assert "RabbitMQ is not reachable" in result.stderr
    assert "rabbitmq-server" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_cli_refuses_unknown_roles(tmp_path):
    result = subprocess.run(DIVERSION + ["token", "--agency", "stl-cao", "--role", "wizard"],
                            env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "wizard" in result.stderr


assert PG_ADMIN_DSN
