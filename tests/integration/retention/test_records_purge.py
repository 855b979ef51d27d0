"""Must-show (ADR 0082): with a controlled clock the purge deletes exactly the rows past retention.

Each service gets a fresh migrated PostgreSQL database; rows either side of the cutoff go in by hand, the
counts per table are asserted before and after, and the rows kept are exactly the young ones.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import create_engine, func, insert, select

from shared import migrations
from shared.retention import load_schedule
from shared.upkeep import purge, service_metadata
from tests.conftest import create_database, drop_database

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the controlled clock of every purge below
SERVICES = ("intake", "casework", "resources", "notifications")


def _key(agency: str, age_days: float) -> dict[str, Any]:
    return {"agency_id": agency, "scope": "test", "key": uuid.uuid4().hex, "request_hash": "0" * 64,
            "status": 201, "response": {"name": "a person"}, "created_at": NOW - dt.timedelta(days=age_days)}


def _entry(agency: str, age_days: float) -> dict[str, Any]:
    return {"occurred_at": NOW - dt.timedelta(days=age_days), "service": "test", "agency_id": agency,
            "actor": "u", "actor_roles": "", "action": "test.read", "resource_type": "x", "resource_id": "1",
            "outcome": "success"}


@pytest.fixture(params=SERVICES)
def service_db(request: Any) -> Any:
    name = f"diversion_test_purge_{request.param}_{uuid.uuid4().hex[:6]}"
    url = create_database(name)
    migrations.upgrade(request.param, url)
    engine = create_engine(url)
    yield request.param, engine
    engine.dispose()
    drop_database(name)


def test_purge_deletes_exactly_the_rows_past_retention(service_db: Any) -> None:
    service, engine = service_db
    tables = service_metadata(service).tables
    keys, audit = tables["idempotency_key"], tables["audit_event"]
    agency = f"t-{uuid.uuid4().hex[:8]}"
    old_keys = [_key(agency, 7.5), _key(agency, 30), _key(agency, 400)]  # idempotency.key: 7 days
    young_keys = [_key(agency, 6.9), _key(agency, 0)]
    old_entries = [_entry(agency, 2556), _entry(agency, 3000)]  # audit.entry: 2555 days
    young_entries = [_entry(agency, 2554), _entry(agency, 366), _entry(agency, 1)]
    with engine.begin() as connection:
        connection.execute(insert(keys), old_keys + young_keys)
        connection.execute(insert(audit), old_entries + young_entries)

    def counts() -> tuple[int, int, set[str]]:
        with engine.connect() as connection:
            n_keys = connection.execute(select(func.count()).select_from(keys)).scalar_one()
            n_audit = connection.execute(select(func.count()).select_from(audit)
                                         .where(audit.c.action == "test.read")).scalar_one()
            kept = set(connection.execute(select(keys.c.key)).scalars())
        return n_keys, n_audit, kept

    assert counts()[:2] == (5, 5)
    dry = purge(engine, service, NOW, schedule=load_schedule(), dry_run=True)
    assert dry.class_counts()["idempotency.key"] == 3 and dry.class_counts()["audit.entry"] == 2
    assert counts()[:2] == (5, 5)  # a dry run deletes nothing

    report = purge(engine, service, NOW, schedule=load_schedule())
    assert report.counts["idempotency.key"] == {"idempotency_key": 3}
    assert report.counts["audit.entry"] == {"audit_event": 2}
    assert report.total() == 5  # nothing else in a fresh database is past retention
    n_keys, n_audit, kept = counts()
    assert (n_keys, n_audit) == (2, 3)
    assert kept == {row["key"] for row in young_keys}

    with engine.connect() as connection:
        entries = connection.execute(select(audit.c.agency_id, audit.c.detail)
                                     .where(audit.c.action == "records.purged")).all()
    # one platform entry (the test agency has no pack of its own, so no per-agency entry), counts only
    assert [row.agency_id for row in entries] == [None]
    assert entries[0].detail["counts"]["idempotency.key"] == 3
    assert all(set(row.detail) <= {"now", "counts", "pack_version", "pack_versions"} for row in entries)

    again = purge(engine, service, NOW, schedule=load_schedule())
    assert again.total() == 0  # the round is idempotent


def test_a_second_instance_skips_the_round_while_one_purges(service_db: Any) -> None:
    from shared.upkeep import lock_key

    service, engine = service_db
    keys = service_metadata(service).tables["idempotency_key"]
    with engine.begin() as connection:
        connection.execute(insert(keys), [_key("t-lock", 30)])
    with engine.connect() as holder, holder.begin():
        holder.execute(select(func.pg_advisory_xact_lock(lock_key(service))))
        busy = purge(engine, service, NOW, schedule=load_schedule())
        assert busy.skipped and busy.total() == 0
    free = purge(engine, service, NOW, schedule=load_schedule())
    assert not free.skipped and free.counts["idempotency.key"] == {"idempotency_key": 1}
