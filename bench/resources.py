"""Benchmark: directory search over 100,000 generated services on PostgreSQL, through the HTTP API and as raw SQL.

Creates (and afterwards drops) the database `diversion_bench_resources`, fills it with COPY, starts the
resources service as a process, and prints p50 / p99 per query kind. Run with `make bench-resources`.
Target: p99 under 50 ms through the HTTP API.
"""

from __future__ import annotations

import io
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
import requests  # noqa: E402

from services.resources.directory.needs import NEED_CATEGORIES, NEED_LABELS  # noqa: E402
from services.resources.domain.search import Circle, local_moment  # noqa: E402
from services.resources.search import SearchParams, build_query  # noqa: E402
from shared import migrations  # noqa: E402

ADMIN = os.environ.get("DIVERSION_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "diversion_bench_resources"
SERVICES = int(os.environ.get("DIVERSION_BENCH_SERVICES", "100000"))
ORGS = SERVICES // 50
REQUESTS = int(os.environ.get("DIVERSION_BENCH_REQUESTS", "300"))
SECRET = "bench-secret-not-for-production-0123456789"
WORDS = ("community", "family", "youth", "recovery", "housing", "shelter", "job", "training", "legal", "clinic",
         "health", "counseling", "support", "outreach", "center", "program", "services", "care", "mental",
         "substance", "parenting", "education", "violence", "prevention", "food", "pantry", "transit", "reentry")
CENTER = (38.627, -90.199)


def admin(sql: str) -> None:
    connection = psycopg2.connect(ADMIN)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def copy(cursor: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)


def generate(dsn: str) -> None:
    rng = random.Random(20261128)
    started = time.perf_counter()
    orgs = [(str(uuid.UUID(int=rng.getrandbits(128))), f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} "
             f"{i}") for i in range(ORGS)]
    service_rows, search_rows, need_rows, point_rows, hour_rows = [], [], [], [], []
    for i in range(SERVICES):
        sid = str(uuid.UUID(int=rng.getrandbits(128)))
        org_id, org_name = orgs[i % ORGS]
        needs = rng.sample(NEED_CATEGORIES, rng.choice((1, 1, 2)))
        name = " ".join(rng.choice(WORDS) for _ in range(3)).title()
        description = " ".join(rng.choice(WORDS) for _ in range(12))
        service_rows.append((sid, org_id, name, description, "active", "accepting", 1))
        search_rows.append((sid, org_id, name, org_name, " ".join(NEED_LABELS[n][0] for n in needs), description,
                            "active", "accepting"))
        need_rows += [(n, sid) for n in needs]
        point_rows.append((sid, sid, CENTER[0] + rng.uniform(-0.4, 0.4), CENTER[1] + rng.uniform(-0.5, 0.5)))
        if rng.random() < 0.7:
            opens = rng.choice((7, 8, 9, 10)) * 60
            for day in range(rng.choice((5, 6, 7))):
                hour_rows.append((sid, day, opens, opens + rng.choice((6, 8, 10)) * 60))
    connection = psycopg2.connect(dsn)
    with connection, connection.cursor() as cursor:
        copy(cursor, "organization", "id, name, description", [(o, n, "") for o, n in orgs])
        copy(cursor, "service", "id, organization_id, name, description, status, capacity, version", service_rows)
        copy(cursor, "service_search", "service_id, organization_id, name, organization_name, need_labels, "
             "description, status, capacity", search_rows)
        copy(cursor, "service_search_need", "need, service_id", need_rows)
        copy(cursor, "service_search_point", "service_id, location_id, latitude, longitude", point_rows)
        copy(cursor, "service_search_hours", "service_id, weekday, opens_minute, closes_minute", hour_rows)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()
    print(f"generated {SERVICES} services of {ORGS} organizations in {time.perf_counter() - started:.1f}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(run: Callable[[int], Any]) -> tuple[float, float]:
    for i in range(20):
        run(i)  # warm-up
    times = []
    for i in range(REQUESTS):
        t0 = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), percentile(times, 99)


def main() -> int:
    base = ADMIN.rsplit("/", 1)[0]
    dsn = f"{base}/{DB}"
    url = dsn.replace("postgresql://", "postgresql+psycopg2://")
    admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DB}"')
    process = None
    try:
        migrations.upgrade("resources", url)
        generate(dsn)
        port = free_port()
        env = {**os.environ, "DIVERSION_RESOURCES_DATABASE_URL": url, "DIVERSION_RESOURCES_HTTP_PORT": str(port),
               "DIVERSION_JWT_SECRET": SECRET, "DIVERSION_DATA_DIR": "/tmp/diversion-bench-resources",
               "DIVERSION_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen([sys.executable, "-m", "shared.main", "serve", "resources"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        api = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{api}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("resources did not become ready")
            time.sleep(0.2)
        from shared.auth import issue_token
        from shared.config import CommonSettings

        token = issue_token(CommonSettings(jwt_secret=SECRET), agency="stl-cao", roles=("case_manager",))
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        connection = psycopg2.connect(dsn)
        connection.autocommit = True
        cursor = connection.cursor()
        from sqlalchemy.dialects import postgresql

        cursor.execute("SELECT organization_id FROM service_search LIMIT 50")
        org_ids = [row[0] for row in cursor.fetchall()]
        at = "2026-03-03T11:00:00-06:00"
        open_at = local_moment(__import__("datetime").datetime.fromisoformat(at), "America/Chicago")
        rng = random.Random(7)
        points = [(CENTER[0] + rng.uniform(-0.3, 0.3), CENTER[1] + rng.uniform(-0.3, 0.3)) for _ in range(50)]
        kinds: dict[str, tuple[Callable[[int], dict[str, Any]], Callable[[int], SearchParams]]] = {
            "need category": (lambda i: {"need": NEED_CATEGORIES[i % 10]},
                              lambda i: SearchParams(need=NEED_CATEGORIES[i % 10])),
            "free text": (lambda i: {"q": f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]}"},
                          lambda i: SearchParams(text=f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]}")),
            "organization": (lambda i: {"organization_id": org_ids[i % 50]},
                             lambda i: SearchParams(organization_id=org_ids[i % 50])),
            "open now": (lambda i: {"open_now": "true", "at": at, "need": NEED_CATEGORIES[i % 10]},
                         lambda i: SearchParams(open_at=open_at, need=NEED_CATEGORIES[i % 10])),
            "distance": (lambda i: {"lat": points[i % 50][0], "lon": points[i % 50][1], "radius_km": 3},
                         lambda i: SearchParams(circle=Circle(points[i % 50][0], points[i % 50][1], 3))),
        }
        print(f"\n{REQUESTS} queries per kind, page of 20, {SERVICES} services (PostgreSQL)")
        print(f"{'query kind':<16}{'HTTP p50':>10}{'HTTP p99':>10}{'SQL p50':>10}{'SQL p99':>10}  (ms)")
        worst = 0.0
        for kind, (http_params, sql_params) in kinds.items():
            def over_http(i: int, http_params: Callable[[int], dict[str, Any]] = http_params) -> None:
                response = session.get(f"{api}/v1/services", params=http_params(i), timeout=10)
                assert response.status_code == 200, response.text

            def over_sql(i: int, sql_params: Callable[[int], SearchParams] = sql_params) -> None:
                statement = build_query(sql_params(i), "postgresql")
                assert statement is not None
                compiled = statement.compile(dialect=postgresql.psycopg2.dialect(),
                                             compile_kwargs={"literal_binds": True})
                cursor.execute(str(compiled))
                cursor.fetchall()

            http50, http99 = measure(over_http)
            sql50, sql99 = measure(over_sql)
            worst = max(worst, http99)
            print(f"{kind:<16}{http50:>10.1f}{http99:>10.1f}{sql50:>10.1f}{sql99:>10.1f}")
        connection.close()
        print(f"\nworst HTTP p99: {worst:.1f} ms (target < 50 ms): {'met' if worst < 50 else 'NOT met'}")
        return 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(15)
        admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
