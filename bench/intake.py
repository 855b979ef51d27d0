"""Benchmark intake: in-process screening rate and the batch API rate on PostgreSQL, each beside a baseline.

1. Screening on one core (bench/intake_screening.py's method) beside pydantic validation of the same dicts.
   Target: screening >= 5,000 referrals/s.
2. POST /v1/referrals:batch (500 per call) against the intake service running in-process on a fresh
   PostgreSQL database (`diversion_test_in_bench_<pid>`, dropped afterwards), beside a raw executemany
   INSERT of the same referral documents (one JSON row each) into a scratch table of that database.
3. Export: `diversion referrals export` of 10,000 and of 100,000 referrals (inserted raw) as separate
   processes, peak RSS of each: memory must stay flat in the number of rows.
Run: make bench-intake   (or .venv/bin/python bench/intake.py [--count N] [--batches N] [--export-rows N])
"""

from __future__ import annotations

import sys

if "--api-only" in sys.argv:
    # The API half runs in a child process: nameko needs eventlet's patching, which the screening half must not
    # pay for (patched locks and sockets slowed the in-process figure by half in trial runs).
    import eventlet

    eventlet.monkey_patch()

import argparse
import gc
import json
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg2
import requests
from intake_screening import TARGET, TODAY, each, make_referrals, rate
from sqlalchemy import text

from services.intake.domain.referral import Referral
from services.intake.domain.ruleset import load_bundled_ruleset
from services.intake.domain.screening import screen

PG_ADMIN = os.environ.get("DIVERSION_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("DIVERSION_TEST_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
BATCH = 500


def _admin(sql: str) -> None:
    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def in_process(count: int) -> tuple[float, float]:
    ruleset = load_bundled_ruleset()
    raw = make_referrals(count)
    referrals = [Referral.model_validate(r) for r in raw]
    gc.collect()
    gc.freeze()
    print(f"\n[1] in-process screening: {count} referrals, pack {ruleset.agency}@{ruleset.version}, one core")
    validate = rate("baseline: pydantic-validate referral dicts", count, each(raw, Referral.model_validate))
    screening = rate("screen (validated referral)", count, each(referrals, lambda r: screen(r, ruleset, TODAY)))
    rate("validate + screen + dump JSON", count,
         each(raw, lambda r: screen(Referral.model_validate(r), ruleset, TODAY).model_dump_json()))
    gc.unfreeze()
    print(f"ratio screen / validate: {screening / validate:.2f}x; target {TARGET:,}/s "
          f"{'met' if screening >= TARGET else 'MISSED'} ({screening / TARGET:.1f}x)")
    return screening, validate


def batch_api(batches: int) -> tuple[float, float]:
    from nameko.containers import ServiceContainer

    from shared import migrations
    from shared.auth import issue_token
    from shared.config import CommonSettings, load_settings
    from shared.db import make_engine
    from shared.runner import service_class

    name = f"diversion_test_in_bench_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://") + f"/{name}"
    secret = uuid.uuid4().hex * 2
    container = None
    try:
        migrations.upgrade("intake", url)
        with tempfile.TemporaryDirectory() as data_dir:
            import socket

            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            settings = load_settings("intake", env={
                "DIVERSION_AMQP_URI": AMQP, "DIVERSION_DATA_DIR": data_dir, "DIVERSION_JWT_SECRET": secret,
                "DIVERSION_LOG_LEVEL": "WARNING", "DIVERSION_INTAKE_DATABASE_URL": url,
                "DIVERSION_INTAKE_HTTP_PORT": str(port),
            })
            container = ServiceContainer(service_class("intake"), settings.nameko_config())
            container.start()
            token = issue_token(CommonSettings(jwt_secret=secret), agency="stl-cao", roles=("screener",))
            docs = make_referrals(BATCH * (batches + 1), seed=11)
            chunks = [docs[i:i + BATCH] for i in range(0, len(docs), BATCH)]
            session = requests.Session()
            headers = {"Authorization": f"Bearer {token}"}
            base = f"http://127.0.0.1:{port}"

            def post(chunk: list[dict[str, object]]) -> None:
                response = session.post(f"{base}/v1/referrals:batch", json=chunk, headers=headers, timeout=120)
                assert response.status_code == 200 and response.json()["created"] == len(chunk), response.text[:500]

            post(chunks[0])  # warm-up: pools, parsed pack, JIT-free but caches filled
            print(f"\n[2] batch API on PostgreSQL: {batches} x POST /v1/referrals:batch of {BATCH}")
            started = time.perf_counter()
            for chunk in chunks[1:]:
                post(chunk)
            api_rate = BATCH * batches / (time.perf_counter() - started)
            print(f"{'POST /v1/referrals:batch (validate, screen, 5 tables, audit)':<62} {api_rate:>9,.0f} referrals/s")

            engine = make_engine(url)
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE bench_raw (id serial PRIMARY KEY, doc json NOT NULL)"))
            started = time.perf_counter()
            for chunk in chunks[1:]:
                with engine.begin() as connection:
                    connection.execute(text("INSERT INTO bench_raw (doc) VALUES (:doc)"),
                                       [{"doc": json.dumps(d)} for d in chunk])
            raw_rate = BATCH * batches / (time.perf_counter() - started)
            engine.dispose()
            print(f"{'baseline: raw executemany INSERT of the same JSON documents':<62} {raw_rate:>9,.0f} referrals/s")
            print(f"ratio batch API / raw insert: {api_rate / raw_rate:.2f}x")
            return api_rate, raw_rate
    finally:
        if container is not None:
            container.stop()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _insert_raw(url: str, agency: str, n: int) -> None:
    import datetime as dt

    from sqlalchemy import insert

    from services.intake.models import DefendantRow, ReferralRow
    from shared.db import make_engine

    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    for start in range(0, n, 10_000):
        ids = [str(uuid.uuid4()) for _ in range(min(10_000, n - start))]
        with engine.begin() as connection:
            connection.execute(insert(ReferralRow), [{
                "id": i, "agency_id": agency, "source": "police", "case_number": f"C-{start + k}",
                "case_key": f"c{start + k}", "person_key": f"p{start + k}", "offense_date": dt.date(2026, 3, 1),
                "status": "screened", "version": 1, "recommendation": "eligible",
                "eligible_programs": ",young-adult,", "received_at": now, "received_by": "bench", "updated_at": now,
                "review_reasons": "", "pending_programs": ",",
            } for k, i in enumerate(ids)])
            connection.execute(insert(DefendantRow), [{
                "referral_id": i, "agency_id": agency, "first_name": "Ana", "last_name": "Diaz",
                "date_of_birth": dt.date(2000, 1, 1), "preferred_language": "en", "race": "Black",
            } for i in ids])
    engine.dispose()


def export_memory(rows: int) -> float:
    """Peak RSS of `diversion referrals export` for rows/10 and for rows referrals; returns the ratio."""
    from shared import migrations

    name = f"diversion_test_in_export_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://") + f"/{name}"
    peaks = {}
    try:
        migrations.upgrade("intake", url)
        print("\n[3] export: peak RSS of `diversion referrals export` (separate processes)")
        for count in (rows // 10, rows):
            agency = f"bench-{count}"
            _insert_raw(url, agency, count)
            script = (
                "import resource, sys, time\n"
                "from click.testing import CliRunner\n"
                "from services.intake.cli import referrals\n"
                "started = time.perf_counter()\n"
                f"result = CliRunner().invoke(referrals, ['export', '--agency', '{agency}', '--database-url', "
                f"'{url}', '-o', '/dev/null'])\n"
                "assert result.exit_code == 0, result.output\n"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - started)\n"
            )
            env = {**os.environ, "DIVERSION_JWT_SECRET": "x" * 64}
            out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                 env=env, cwd=str(Path(__file__).resolve().parents[1]))
            kib, seconds = out.stdout.split()[-2:]
            peaks[count] = int(kib) / 1024
            print(f"{f'export of {count:,} referrals':<62} {peaks[count]:>8.1f} MiB peak RSS, "
                  f"{count / float(seconds):>9,.0f} referrals/s")
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ratio = peaks[rows] / peaks[rows // 10]
    print(f"ratio peak RSS {rows:,} / {rows // 10:,} rows: {ratio:.2f}x (flat: close to 1)")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000, help="referrals for the in-process screening")
    parser.add_argument("--batches", type=int, default=10, help=f"timed batch calls of {BATCH}")
    parser.add_argument("--export-rows", type=int, default=100_000, help="referrals for the export memory run")
    parser.add_argument("--api-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.api_only:
        api_rate, raw_rate = batch_api(args.batches)
        print(f"target batch/raw >= 0.5x: {'met' if api_rate / raw_rate >= 0.5 else 'NOT met'}")
        return 0
    screening, _ = in_process(args.count)
    sys.stdout.flush()
    child = subprocess.run([sys.executable, __file__, "--api-only", "--batches", str(args.batches)], check=False)
    flat = export_memory(args.export_rows) < 1.5
    return 0 if screening >= TARGET and child.returncode == 0 and flat else 1


if __name__ == "__main__":
    raise SystemExit(main())
