"""Records upkeep: each service DELETES the rows its retention schedule says are past keeping (ADR 0082).

A `PurgeClass` names a record class of `shared/retention.py`, the table holding it, the column its age counts
from and which rows of the table belong to the class. `purge()` runs them all in one transaction that first
takes a PostgreSQL advisory lock for the service (a second instance finds it taken and skips the round), so
several instances never purge at once; it records the counts per class in the audit trail (one platform entry,
and one per agency whose rows went), never what the rows held. `now` is a parameter: the timer passes the wall
clock, tests and `diversion purge --now` pass their own.

The audit trail is append-only (a trigger refuses UPDATE and DELETE); the trigger lets exactly this path
through: on PostgreSQL a transaction that set `diversion.records_purge` may delete entries older than a year
by the database's own clock (so not even a purge with a wrong `now` can remove a younger entry); on SQLite a
row in `audit_purge_permit`, written and removed inside the purge's transaction, does the same.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.timer import Timer
from sqlalchemy import ColumnElement, MetaData, Table, delete, func, select, text, true
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from shared.audit import AUDIT_TABLE, write_audit
from shared.config import SETTINGS_KEY, CommonSettings, Settings
from shared.retention import AUDIT_CLASS, Schedule, load_schedule

log = logging.getLogger(__name__)

ACTOR = "system:records-upkeep"
PERMIT_TABLE = "audit_purge_permit"
PURGE_SETTING = "diversion.records_purge"

Filter = Callable[[Table, MetaData], ColumnElement[bool]]
AgencyOf = Callable[[Table, MetaData], ColumnElement[Any]]


@dataclass(frozen=True)
class PurgeClass:
    record_class: str
    table: str
    anchor: str  # the column the retention counts from
    where: Filter | None = None  # which of the table's rows are this class (None: all)
    agency: AgencyOf | str | None = "agency_id"  # the rows' agency (None: the default pack applies to all)


def _has(table: Table, column: str) -> ColumnElement[bool]:
    return table.c[column].isnot(None)


# Every service holds these: its messaging tables, idempotency keys and audit trail.
COMMON_CLASSES: tuple[PurgeClass, ...] = (
    PurgeClass("idempotency.key", "idempotency_key", "created_at"),
    # A pending outbox row is an event not yet published: it is never purged, whatever its age.
    PurgeClass("outbox.sent", "outbox", "sent_at", where=lambda t, m: _has(t, "sent_at"), agency=None),
    PurgeClass("inbox.handled", "inbox", "handled_at", agency=None),
    PurgeClass(AUDIT_CLASS, AUDIT_TABLE, "occurred_at"),
)


# A purge that is more than one table's rows (casework's closed and sealed cases and everything about them):
# `(session, now, schedule, dry_run) -> [(record_class, table, agency, rows)]`, in the purge's transaction.
PurgeHook = Callable[[Session, dt.datetime, Schedule, bool], list[tuple[str, str, str, int]]]


def service_hooks(service: str) -> tuple[PurgeHook, ...]:
    """`services.<service>.usecases.retention.PURGE_HOOKS`, if the service has any."""
    try:
        module = importlib.import_module(f"services.{service}.usecases.retention")
    except ModuleNotFoundError as exc:
        if exc.name != f"services.{service}.usecases.retention":
            raise
        return ()
    hooks: tuple[PurgeHook, ...] = getattr(module, "PURGE_HOOKS", ())
    return hooks


def service_classes(service: str) -> tuple[PurgeClass, ...]:
    """The common classes and the service's own (`services.<service>.usecases.retention.PURGE_CLASSES`)."""
    try:
        module = importlib.import_module(f"services.{service}.usecases.retention")
    except ModuleNotFoundError as exc:
        if exc.name != f"services.{service}.usecases.retention":
            raise
        return COMMON_CLASSES
    own: tuple[PurgeClass, ...] = module.PURGE_CLASSES
    return own + COMMON_CLASSES


def service_metadata(service: str) -> MetaData:
    metadata: MetaData = importlib.import_module(f"services.{service}.models").Base.metadata
    return metadata


def lock_key(service: str) -> int:
    """The advisory lock of one service's purge (a stable signed 64-bit key)."""
    return 0x5245_0000_0000 + zlib.crc32(f"records-upkeep:{service}".encode())


@dataclass
class PurgeReport:
    service: str
    now: dt.datetime
    dry_run: bool
    skipped: bool = False  # another instance held the lock
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> table -> rows
    by_agency: dict[str, dict[str, int]] = field(default_factory=dict)  # agency -> class -> rows

    def total(self) -> int:
        return sum(n for tables in self.counts.values() for n in tables.values())

    def class_counts(self) -> dict[str, int]:
        return {name: sum(tables.values()) for name, tables in self.counts.items()}


def _agency_expression(spec: PurgeClass, table: Table, metadata: MetaData) -> ColumnElement[Any] | None:
    if spec.agency is None:
        return None
    if isinstance(spec.agency, str):
        return table.c[spec.agency]
    return spec.agency(table, metadata)


def _selections(spec: PurgeClass, table: Table, metadata: MetaData, schedule: Schedule,
                now: dt.datetime) -> list[tuple[str | None, ColumnElement[bool]]]:
    """(agency or None, condition) pairs: each agency with its own days, then everyone else on the default."""
    base = spec.where(table, metadata) if spec.where is not None else true()
    anchor = table.c[spec.anchor]
    agency = _agency_expression(spec, table, metadata)
    if agency is None:
        return [(None, base & (anchor < schedule.cutoff(spec.record_class, now)))]
    own = schedule.overriding(spec.record_class)
    out: list[tuple[str | None, ColumnElement[bool]]] = []
    for name in sorted(own):
        out.append((name, base & (agency == name) & (anchor < schedule.cutoff(spec.record_class, now, name))))
    others = agency.is_(None) | agency.notin_(sorted(own)) if own else true()
    out.append((None, base & others & (anchor < schedule.cutoff(spec.record_class, now))))
    return out


def _permit_audit_deletes(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SET LOCAL {PURGE_SETTING} = 'on'"))
    else:
        connection.execute(text(f"INSERT INTO {PERMIT_TABLE} (id) VALUES (1)"))


def _withdraw_permit(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SET LOCAL {PURGE_SETTING} = 'off'"))
    else:
        connection.execute(text(f"DELETE FROM {PERMIT_TABLE}"))


def _locked(connection: Connection, service: str) -> bool:
    if connection.dialect.name != "postgresql":
        return True  # SQLite: one process per database file (the embedded default); writes serialize anyway
    return bool(connection.execute(select(func.pg_try_advisory_xact_lock(lock_key(service)))).scalar())


Progress = Callable[[str, str, int], None]


def purge(engine: Engine, service: str, now: dt.datetime, *, schedule: Schedule | None = None,
          classes: tuple[PurgeClass, ...] | None = None, dry_run: bool = False,
          progress: Progress | None = None) -> PurgeReport:
    """Delete (or with `dry_run` count) every row of `service` past retention at `now`; audit the counts."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    chosen = schedule or load_schedule()
    metadata = service_metadata(service)
    report = PurgeReport(service, now, dry_run)
    with engine.begin() as connection:
        if not _locked(connection, service):
            report.skipped = True
            return report
        if not dry_run:
            _permit_audit_deletes(connection)
        for spec in classes or service_classes(service):
            table = metadata.tables[spec.table]
            for agency, condition in _selections(spec, table, metadata, chosen, now):
                if dry_run:
                    found = connection.execute(select(func.count()).select_from(table).where(condition)).scalar()
                    count = int(found or 0)
                else:
                    count = connection.execute(delete(table).where(condition)).rowcount or 0
                tables = report.counts.setdefault(spec.record_class, {})
                tables[spec.table] = tables.get(spec.table, 0) + count
                if agency is not None and count:
                    per = report.by_agency.setdefault(agency, {})
                    per[spec.record_class] = per.get(spec.record_class, 0) + count
            if progress is not None:
                progress(spec.record_class, spec.table, report.counts[spec.record_class][spec.table])
        if classes is None:
            for hook in service_hooks(service):
                _run_hook(hook, connection, report, chosen, now, dry_run, progress)
        if not dry_run:
            _withdraw_permit(connection)
            _audit(connection, report, chosen)
    return report


def _run_hook(hook: PurgeHook, connection: Connection, report: PurgeReport, schedule: Schedule,
              now: dt.datetime, dry_run: bool, progress: Progress | None) -> None:
    session = Session(bind=connection, expire_on_commit=False)  # joins the purge's transaction
    try:
        rows = hook(session, now, schedule, dry_run)
        session.flush()
    finally:
        session.close()
    for record_class, table, agency, count in rows:
        tables = report.counts.setdefault(record_class, {})
        tables[table] = tables.get(table, 0) + count
        if count and agency in schedule.agencies:  # an agency with its own pack gets its own entry
            per = report.by_agency.setdefault(agency, {})
            per[record_class] = per.get(record_class, 0) + count
    if progress is not None:
        for record_class, tables in sorted(report.counts.items()):
            if any(name == record_class for name, _t, _a, _n in rows):
                for table, count in sorted(tables.items()):
                    progress(record_class, table, count)


def _audit(connection: Connection, report: PurgeReport, schedule: Schedule) -> None:
    """Counts only: class names and numbers, the instant and the pack versions applied (no record content)."""
    common = {"service": report.service, "action": "records.purged", "outcome": "success", "identity": None,
              "resource_type": "retention_schedule", "source_ip": None, "request_id": None, "actor": ACTOR}
    detail = {"now": report.now.isoformat(), "counts": report.class_counts(), "pack_versions": schedule.versions()}
    write_audit(connection, **common, resource_id="default", detail=detail)
    for agency, counts in sorted(report.by_agency.items()):
        write_audit(connection, **common, agency_id=agency, resource_id=agency,
                    detail={"now": report.now.isoformat(), "counts": counts,
                            "pack_version": schedule.agencies[agency].version})


# ------------------------------------------------------------------------------------- the audit trigger

PG_APPEND_ONLY_WITH_PURGE = f"""
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
  -- The records upkeep (shared/upkeep.py) may delete entries past the one-year floor, nothing else may.
  IF TG_OP = 'DELETE' AND current_setting('{PURGE_SETTING}', true) = 'on'
     AND OLD.occurred_at < now() - interval '365 days' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_event is append-only';
END;
$$ LANGUAGE plpgsql;
"""

_SQLITE_DELETE_TRIGGER = (
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_purge_permit) OR OLD.occurred_at >= datetime('now', '-365 days') "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
)
_SQLITE_OLD_DELETE_TRIGGER = (
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
)


def allow_purge_of_audit(op: Any) -> None:
    """Alembic `upgrade()` step: the append-only trigger lets the records upkeep's deletes through."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_APPEND_ONLY_WITH_PURGE)
    else:
        op.execute(f"CREATE TABLE {PERMIT_TABLE} (id INTEGER PRIMARY KEY)")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        op.execute(_SQLITE_DELETE_TRIGGER)


def refuse_purge_of_audit(op: Any) -> None:
    """Alembic `downgrade()` step: back to refusing every change."""
    from shared.audit import APPEND_ONLY_FUNCTION

    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        op.execute(_SQLITE_OLD_DELETE_TRIGGER)
        op.execute(f"DROP TABLE {PERMIT_TABLE}")


def permit_table_rows(connection: Connection) -> int:
    """Rows in the SQLite permit table (zero outside a purge's transaction)."""
    return int(connection.execute(text(f"SELECT count(*) FROM {PERMIT_TABLE}")).scalar() or 0)



# ------------------------------------------------------------------------------------- in each service

class RecordsUpkeep(DependencyProvider):  # type: ignore[misc]  # nameko is untyped
    """Injects itself: `run()` purges one round at `clock()` (the wall clock; tests set their own).

    The schedule is loaded at setup, so a service with an invalid retention pack does not start.
    """

    def setup(self) -> None:
        from shared.messaging.service import find_database
        from shared.metrics import metrics_for

        self.settings: Settings = self.container.config[SETTINGS_KEY]
        self.schedule = load_schedule()
        database = find_database(self.container)
        if database is None:
            raise RuntimeError(f"{self.container.service_name}: RecordsUpkeep needs a `db = Database()` dependency")
        self.database = database
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        self.last: PurgeReport | None = None
        self.purged = metrics_for(self.container).counter(
            "records_purged_total", "Rows deleted past their retention, by record class", ("record_class",))

    def get_dependency(self, worker_ctx: Any) -> RecordsUpkeep:
        return self

    def run(self) -> PurgeReport:
        report = purge(self.database.engine, self.container.service_name, self.clock(), schedule=self.schedule)
        for record_class, count in report.class_counts().items():
            if count:
                self.purged.labels(record_class).inc(count)
        if report.total() or report.skipped:
            log.info("records upkeep: %s", "another instance holds the lock" if report.skipped
                     else ", ".join(f"{k} {v}" for k, v in report.class_counts().items() if v))
        self.last = report
        return report

    def drain_dropped(self) -> Any:
        """Count what the queue bounds dropped for this service (shared/messaging/bounds.py, ADR 0085); a
        broker that does not answer only skips the round."""
        from amqp.exceptions import AMQPError
        from kombu.exceptions import KombuError

        from shared.messaging.bounds import drain_dropped

        try:
            return drain_dropped(self.settings.common.amqp_uri, self.container.service_name, self.database.engine)
        except (OSError, AMQPError, KombuError) as exc:
            log.warning("dropped drain skipped: broker unavailable (%s)", type(exc).__name__)
            return None


class CommonTimer(Timer):  # type: ignore[misc]  # nameko is untyped
    """nameko's timer with its interval read at setup from a field of the suite's common settings."""

    def __init__(self, field_name: str, **kwargs: Any) -> None:
        self.field_name = field_name
        super().__init__(interval=float(CommonSettings.model_fields[field_name].default), **kwargs)

    def setup(self) -> None:
        settings = self.container.config.get(SETTINGS_KEY)
        common = settings.common if isinstance(settings, Settings) else CommonSettings()
        self.interval = float(getattr(common, self.field_name))
        super().setup()


def common_timer(field_name: str) -> Callable[..., Any]:
    """`@common_timer("purge_interval_seconds")`: a timer entrypoint driven by `DIVERSION_*` settings."""
    decorator: Callable[..., Any] = CommonTimer.decorator(field_name)
    return decorator
