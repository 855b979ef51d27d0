"""Where a referral's time goes in POST /v1/referrals:batch: bench/intake.py's batch run with each stage timed.

Wraps the stages (HTTP parse, validation, screening, row building, each table's INSERT, the lookups, the audit
row) with timers and prints microseconds per referral beside the bench's own figures and its raw baseline.
Stages nest (handle_request > submit_batch > store_batch > ...), so the lines do not add up. The warm-up call
is counted too (the totals are divided by every referral posted). Not part of `make bench-intake`.
Run: .venv/bin/python bench/intake_batch_stages.py [--batches N]
"""

from __future__ import annotations

import sys

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import collections  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import intake  # noqa: E402
import services.intake.handlers as h  # noqa: E402
import services.intake.review as queue  # noqa: E402

import shared.bulk as bulk  # noqa: E402
from services.intake.service import IntakeService  # noqa: E402

api = importlib.import_module("shared.http.api")
SPENT: collections.Counter[str] = collections.Counter()


def timed(owner: Any, name: str, label: str | None = None) -> None:
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            SPENT[label or name] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    for name in ("prepare_batch", "screen", "store_batch", "existing_ids", "store_screened", "screening_row_values"):
        timed(h, name)
    timed(queue, "possible_duplicate_keys")
    timed(bulk, "_json_rows", "json_rows (building the INSERT parameters)")
    write_rows = h.write_rows

    def write_one(session: Any, table: Any, rows: Any) -> None:
        started = time.perf_counter()
        write_rows(session, table, rows)
        SPENT[f"INSERT {table.name}"] += time.perf_counter() - started

    h.write_rows = write_one
    timed(api.ApiEntrypoint, "handle_request")
    timed(api.ApiEntrypoint, "_parse", "_parse (JSON, edge checks)")
    timed(IntakeService, "submit_batch")
    timed(IntakeService, "_audit")
    started = time.perf_counter()
    api_rate, raw_rate = intake.batch_api(args.batches)
    total = time.perf_counter() - started
    referrals = intake.BATCH * (args.batches + 1)
    print(f"\nper referral ({referrals} posted, the warm-up call included):")
    for name, seconds in sorted(SPENT.items(), key=lambda pair: -pair[1]):
        print(f"  {name:<48} {seconds * 1e6 / referrals:8.1f} us")
    print(f"  {'(batch API, timed calls: 1 / rate)':<48} {1e6 / api_rate:8.1f} us")
    print(f"  {'(raw baseline: 1 / rate)':<48} {1e6 / raw_rate:8.1f} us")
    print(f"  (whole run {total:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
