"""Which PostgreSQL driver under eventlet: psycopg2 (+ psycogreen) or pg8000? (ADR 0002)

Both cooperate with eventlet; this measures sequential round trips and 20 concurrent green threads
doing the same work, through SQLAlchemy 2 as the services use it.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import psycopg2  # noqa: E402
from sqlalchemy import text  # noqa: E402

from shared.db import make_engine  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB = f"diversion_bench_driver_{os.getpid()}"
N = 2000
CONCURRENCY = 20


def admin(sql: str) -> None:
    connection = psycopg2.connect(ADMIN)
    connection.autocommit = True
    connection.cursor().execute(sql)
    connection.close()


def run(url: str) -> dict[str, float]:
    engine = make_engine(url, pool_size=CONCURRENCY)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench; CREATE TABLE bench (id serial primary key, v text)"))

    def one(i: int) -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO bench (v) VALUES (:v)"), {"v": f"row-{i}"})
            connection.execute(text("SELECT count(*) FROM bench WHERE id = :i"), {"i": i}).scalar()

    started = time.perf_counter()
    for i in range(N):
        one(i)
    sequential = N / (time.perf_counter() - started)

    pool = eventlet.GreenPool(CONCURRENCY)
    started = time.perf_counter()
    for _ in pool.imap(one, range(N)):
        pass
    concurrent = N / (time.perf_counter() - started)
    engine.dispose()
    return {"sequential_tx_per_s": sequential, "concurrent_tx_per_s": concurrent}


def main() -> None:
    admin(f'CREATE DATABASE "{DB}"')
    try:
        results = {}
        for driver in ("postgresql+psycopg2", "postgresql+pg8000"):
            runs = [run(f"{driver}://postgres@127.0.0.1:5432/{DB}") for _ in range(3)]
            results[driver] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        base = results["postgresql+pg8000"]
        for driver, figures in results.items():
            print(
                f"{driver:<22} sequential {figures['sequential_tx_per_s']:8.0f} tx/s "
                f"({figures['sequential_tx_per_s'] / base['sequential_tx_per_s']:.2f}x pg8000)   "
                f"{CONCURRENCY} green threads {figures['concurrent_tx_per_s']:8.0f} tx/s "
                f"({figures['concurrent_tx_per_s'] / base['concurrent_tx_per_s']:.2f}x pg8000)"
            )
    finally:
        admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
