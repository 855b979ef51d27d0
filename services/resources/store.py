"""The directory in the database: store a `Directory` (insert or update by id), read it back, keep search rows.

Storing is idempotent: a row whose id exists is updated only if something changed, so importing the
same file twice creates nothing the second time. Rows an import does not mention are left alone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.resources.directory.model import RECORD_TYPES, Attribute, Directory, Record, TaxonomyTerm
from services.resources.directory.model import Service as ServiceRecord
from services.resources.directory.needs import NEED_LABELS, need_categories
from services.resources.domain.search import WeeklySchedule, weekly_hours
from services.resources.models import (
    ATTRIBUTE,
    HSDS_TABLES,
    LOCATION,
    ORGANIZATION,
    SCHEDULE,
    SERVICE,
    SERVICE_AT_LOCATION,
    SERVICE_HOURS,
    SERVICE_NEED,
    SERVICE_POINT,
    SERVICE_SEARCH,
    TAXONOMY,
    TAXONOMY_TERM,
)

CHUNK = 500


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _db_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # SQLite keeps no offset: store every instant in UTC so it reads back as the same instant.
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value


def _record_value(value: Any) -> Any:
    # (A timestamp needs nothing: the columns are `UtcDateTime`, so a row's come back aware.)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # HSDS numbers such as extensions are integers in the source
    return value


def record_row(record: Record) -> dict[str, Any]:
    """The database row of an HSDS record (ids as strings)."""
    return {
        key: str(value) if isinstance(value, uuid.UUID) else _db_value(value)
        for key, value in record.model_dump(mode="python").items()
    }


def row_record(record_type: type[Record], row: Any) -> Record:
    values = {name: _record_value(row[name]) for name in record_type.model_fields if row[name] is not None}
    return record_type.model_validate(values)


@dataclass
class StoreResult:
    """Rows created, updated and left unchanged per table."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = []
        for table in (r.table for r in RECORD_TYPES):
            c, u, s = self.created.get(table, 0), self.updated.get(table, 0), self.unchanged.get(table, 0)
            if c or u or s:
                parts.append(f"{table}: {c} new, {u} updated, {s} unchanged")
        return "; ".join(parts) or "nothing"

    @property
    def created_total(self) -> int:
        return sum(self.created.values())


def _same(current: Any, wanted: Any) -> bool:
    """A stored value (timestamps aware, from `UtcDateTime`) against the record's (`record_row`: aware, UTC)."""
    return bool(current == wanted)


def save_directory(session: Session, directory: Directory) -> StoreResult:
    """Insert or update every row of `directory` by id (in the caller's transaction); refresh search rows."""
    result = StoreResult()
    touched_services: set[str] = set()
    touched_orgs: set[str] = set()
    for record_type in RECORD_TYPES:
        table = HSDS_TABLES[record_type.table]
        records = directory.rows(record_type.table)
        columns = list(record_type.model_fields)
        created = updated = unchanged = 0
        for batch in _chunks(records):
            rows = [record_row(r) for r in batch]
            existing = {
                row["id"]: row
                for row in session.execute(
                    select(*(table.c[c] for c in columns)).where(table.c.id.in_([r["id"] for r in rows]))
                ).mappings()
            }
            new_rows = [r for r in rows if r["id"] not in existing]
            if new_rows:
                session.execute(insert(table), new_rows)
            created += len(new_rows)
            for row in rows:
                current = existing.get(row["id"])
                if current is None:
                    continue
                changes = {c: row[c] for c in columns if not _same(current[c], row[c])}
                if not changes:
                    unchanged += 1
                    continue
                values: dict[str, Any] = dict(changes)
                if table is SERVICE:
                    values["version"] = SERVICE.c.version + 1
                session.execute(update(table).where(table.c.id == row["id"]).values(**values))
                updated += 1
            if table is SERVICE:
                touched_services.update(r["id"] for r in rows)
            if table is ORGANIZATION:
                touched_orgs.update(r["id"] for r in rows)
        result.created[record_type.table] = created
        result.updated[record_type.table] = updated
        result.unchanged[record_type.table] = unchanged
    # Anything under an organization the import mentions may change how its services are found.
    if touched_orgs:
        touched_services.update(session.scalars(
            select(SERVICE.c.id).where(SERVICE.c.organization_id.in_(sorted(touched_orgs)))
        ))
    refresh_search(session, sorted(touched_services))
    return result


# --- reading back -------------------------------------------------------------------------------------


def _select(session: Session, record_type: type[Record], *where: Any) -> list[Record]:
    table = HSDS_TABLES[record_type.table]
    statement = select(*(table.c[c] for c in record_type.model_fields)).order_by(table.c.id)
    if where:
        statement = statement.where(*where)
    return [row_record(record_type, row) for row in session.execute(statement).mappings()]


def _in(column: Any, ids: Iterable[str]) -> Any:
    return column.in_(sorted(set(ids)))


def load_directory(session: Session, organization_ids: Iterable[str] | None = None) -> Directory:
    """The stored directory, or only what belongs to (and is reachable from) some organizations."""
    types = {r.table: r for r in RECORD_TYPES}
    if organization_ids is None:
        return Directory(**{table: _select(session, record_type) for table, record_type in types.items()})
    orgs = sorted(set(organization_ids))
    t = HSDS_TABLES
    d = Directory()
    d.organizations = _select(session, types["organizations"], _in(ORGANIZATION.c.id, orgs))  # type: ignore[assignment]
    d.services = _select(session, types["services"], _in(SERVICE.c.organization_id, orgs))  # type: ignore[assignment]
    service_ids = [str(s.id) for s in d.services]
    d.service_at_locations = _select(  # type: ignore[assignment]
        session, types["service_at_locations"], _in(SERVICE_AT_LOCATION.c.service_id, service_ids))
    sal_ids = [str(s.id) for s in d.service_at_locations]
    used_locations = [str(s.location_id) for s in d.service_at_locations]
    d.locations = _select(session, types["locations"], or_(  # type: ignore[assignment]
        _in(LOCATION.c.organization_id, orgs), _in(LOCATION.c.id, used_locations)))
    location_ids = [str(loc.id) for loc in d.locations]
    d.addresses = _select(session, types["addresses"], _in(t["addresses"].c.location_id, location_ids))  # type: ignore[assignment]
    contacts = t["contacts"]
    d.contacts = _select(session, types["contacts"], or_(  # type: ignore[assignment]
        _in(contacts.c.organization_id, orgs), _in(contacts.c.service_id, service_ids),
        _in(contacts.c.service_at_location_id, sal_ids), _in(contacts.c.location_id, location_ids)))
    contact_ids = [str(c.id) for c in d.contacts]
    phones = t["phones"]
    d.phones = _select(session, types["phones"], or_(  # type: ignore[assignment]
        _in(phones.c.organization_id, orgs), _in(phones.c.service_id, service_ids),
        _in(phones.c.service_at_location_id, sal_ids), _in(phones.c.location_id, location_ids),
        _in(phones.c.contact_id, contact_ids)))
    phone_ids = [str(p.id) for p in d.phones]
    d.schedules = _select(session, types["schedules"], or_(  # type: ignore[assignment]
        _in(SCHEDULE.c.service_id, service_ids), _in(SCHEDULE.c.service_at_location_id, sal_ids),
        _in(SCHEDULE.c.location_id, location_ids)))
    languages = t["languages"]
    d.languages = _select(session, types["languages"], or_(  # type: ignore[assignment]
        _in(languages.c.service_id, service_ids), _in(languages.c.location_id, location_ids),
        _in(languages.c.phone_id, phone_ids)))
    d.service_areas = _select(  # type: ignore[assignment]
        session, types["service_areas"], _in(t["service_areas"].c.service_id, service_ids))
    program_ids = [str(s.program_id) for s in d.services if s.program_id]
    d.programs = _select(session, types["programs"], or_(  # type: ignore[assignment]
        _in(t["programs"].c.organization_id, orgs), _in(t["programs"].c.id, program_ids)))
    d.funding = _select(session, types["funding"], or_(  # type: ignore[assignment]
        _in(t["funding"].c.organization_id, orgs), _in(t["funding"].c.service_id, service_ids)))
    d.accessibility = _select(  # type: ignore[assignment]
        session, types["accessibility"], _in(t["accessibility"].c.location_id, location_ids))
    d.cost_options = _select(  # type: ignore[assignment]
        session, types["cost_options"], _in(t["cost_options"].c.service_id, service_ids))
    d.required_documents = _select(  # type: ignore[assignment]
        session, types["required_documents"], _in(t["required_documents"].c.service_id, service_ids))
    d.organization_identifiers = _select(  # type: ignore[assignment]
        session, types["organization_identifiers"], _in(t["organization_identifiers"].c.organization_id, orgs))
    linked = [str(r.id) for table in d.counts() for r in d.rows(table)]
    d.attributes = _select(session, types["attributes"], _in(ATTRIBUTE.c.link_id, linked))  # type: ignore[assignment]
    term_ids = [str(a.taxonomy_term_id) for a in d.attributes]
    d.taxonomy_terms = _select(session, types["taxonomy_terms"], _in(TAXONOMY_TERM.c.id, term_ids))  # type: ignore[assignment]
    taxonomy_ids = [str(term.taxonomy_id) for term in d.taxonomy_terms if term.taxonomy_id]
    d.taxonomies = _select(session, types["taxonomies"], _in(TAXONOMY.c.id, taxonomy_ids))  # type: ignore[assignment]
    described = [str(r.id) for table in d.counts() for r in d.rows(table)]
    d.metadata = _select(session, types["metadata"], _in(t["metadata"].c.resource_id, described))  # type: ignore[assignment]
    return d


# --- search rows ------------------------------------------------------------------------------------


def _need_rows(session: Session, services: list[ServiceRecord]) -> dict[str, tuple[set[str], list[str]]]:
    """Per service: its need categories, and the names of every term attached to it (searchable text)."""
    ids = [str(s.id) for s in services]
    attributes = _select(session, Attribute, _in(ATTRIBUTE.c.link_id, ids),
                         ATTRIBUTE.c.link_entity.in_(("service", "services")))
    term_ids = [str(a.taxonomy_term_id) for a in attributes]  # type: ignore[attr-defined]
    terms = _select(session, TaxonomyTerm, _in(TAXONOMY_TERM.c.id, term_ids))
    small = Directory(services=services, attributes=attributes, taxonomy_terms=terms)
    out: dict[str, tuple[set[str], list[str]]] = {}
    for service in services:
        needs = need_categories(service, small)
        labels = [NEED_LABELS[n][0] for n in sorted(needs)]
        labels += [term.name for term in small.terms_of(service.id)]
        out[str(service.id)] = (needs, list(dict.fromkeys(labels)))
    return out


def refresh_search(session: Session, service_ids: Sequence[str]) -> None:
    """Rebuild the search rows (text, needs, points, hours) of these services from the directory tables."""
    today = dt.date.today()
    for batch in _chunks(list(service_ids)):
        for table in (SERVICE_SEARCH, SERVICE_NEED, SERVICE_POINT, SERVICE_HOURS):
            session.execute(delete(table).where(table.c.service_id.in_(batch)))
        services: list[ServiceRecord] = _select(session, ServiceRecord, _in(SERVICE.c.id, batch))  # type: ignore[assignment]
        if not services:
            continue
        extra = {row.id: row for row in session.execute(
            select(SERVICE.c.id, SERVICE.c.capacity).where(_in(SERVICE.c.id, batch)))}
        org_names = dict(session.execute(select(ORGANIZATION.c.id, ORGANIZATION.c.name).where(
            _in(ORGANIZATION.c.id, {str(s.organization_id) for s in services}))).tuples().all())
        needs = _need_rows(session, services)
        search_rows, need_rows = [], []
        for s in services:
            sid = str(s.id)
            categories, labels = needs[sid]
            search_rows.append({
                "service_id": sid,
                "organization_id": str(s.organization_id),
                "name": s.name,
                "organization_name": org_names.get(str(s.organization_id), ""),
                "need_labels": " ".join(labels),
                "description": " ".join(x for x in (s.alternate_name, s.description) if x),
                "status": s.status,
                "capacity": extra[sid].capacity,
            })
            need_rows += [{"need": n, "service_id": sid} for n in sorted(categories)]
        session.execute(insert(SERVICE_SEARCH), search_rows)
        if need_rows:
            session.execute(insert(SERVICE_NEED), need_rows)
        points = session.execute(
            select(SERVICE_AT_LOCATION.c.service_id, LOCATION.c.id, LOCATION.c.latitude, LOCATION.c.longitude)
            .join(LOCATION, LOCATION.c.id == SERVICE_AT_LOCATION.c.location_id)
            .where(_in(SERVICE_AT_LOCATION.c.service_id, batch), LOCATION.c.latitude.is_not(None),
                   LOCATION.c.longitude.is_not(None))
        ).all()
        point_rows = list({(p[0], p[1]): {"service_id": p[0], "location_id": p[1], "latitude": p[2],
                                          "longitude": p[3]} for p in points}.values())
        if point_rows:
            session.execute(insert(SERVICE_POINT), point_rows)
        sal_service = dict(session.execute(
            select(SERVICE_AT_LOCATION.c.id, SERVICE_AT_LOCATION.c.service_id)
            .where(_in(SERVICE_AT_LOCATION.c.service_id, batch))).tuples().all())
        schedules = session.execute(
            select(SCHEDULE.c.service_id, SCHEDULE.c.service_at_location_id, SCHEDULE.c.freq, SCHEDULE.c.byday,
                   SCHEDULE.c.opens_at, SCHEDULE.c.closes_at, SCHEDULE.c.valid_from, SCHEDULE.c.valid_to)
            .where(or_(_in(SCHEDULE.c.service_id, batch), _in(SCHEDULE.c.service_at_location_id, sal_service)))
        ).all()
        by_service: dict[str, list[WeeklySchedule]] = {}
        for row in schedules:
            owner = row.service_id or sal_service.get(row.service_at_location_id)
            if owner:
                by_service.setdefault(owner, []).append(WeeklySchedule(
                    row.freq, row.byday, row.opens_at, row.closes_at, row.valid_from, row.valid_to))
        hour_rows = [
            {"service_id": sid, "weekday": span.weekday, "opens_minute": span.opens_minute,
             "closes_minute": span.closes_minute}
            for sid, items in by_service.items() for span in weekly_hours(items, today)
        ]
        if hour_rows:
            session.execute(insert(SERVICE_HOURS), hour_rows)


def refresh_all_search(session: Session) -> int:
    ids = list(session.scalars(select(SERVICE.c.id).order_by(SERVICE.c.id)))
    refresh_search(session, ids)
    return len(ids)


def count_rows(session: Session, table: Table) -> int:
    return int(session.execute(select(func.count()).select_from(table)).scalar_one())
