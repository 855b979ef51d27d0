"""HSDS 3.0 JSON export: a Directory as a list of organization documents with everything nested in them.

Each row is written once, under its most specific owner (a phone with a contact goes under the
contact), with all its foreign keys spelled out, so importing the export rebuilds the same Directory.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from .hsds import validate_hsds
from .model import (
    Attribute,
    Contact,
    Directory,
    Language,
    Location,
    Phone,
    Record,
    Schedule,
    Service,
    ServiceAtLocation,
    TaxonomyTerm,
)


class InvalidHsdsExport(ValueError):
    """The export does not validate against HSDS 3.0 (a bug: a Directory should always export cleanly)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:10]))
        self.errors = errors


def _owner(record: Record, order: tuple[str, ...]) -> tuple[str, uuid.UUID] | None:
    for fk in order:
        value = getattr(record, fk)
        if value is not None:
            return fk, value
    return None


class _Exporter:
    def __init__(self, directory: Directory) -> None:
        self.d = directory
        self.phones = self._group(
            directory.phones,
            ("contact_id", "service_at_location_id", "service_id", "location_id", "organization_id"),
        )
        self.contacts = self._group(
            directory.contacts, ("service_at_location_id", "service_id", "location_id", "organization_id")
        )
        self.schedules = self._group(
            directory.schedules, ("service_at_location_id", "service_id", "location_id")
        )
        self.languages = self._group(directory.languages, ("phone_id", "service_id", "location_id"))
        self.attributes: dict[uuid.UUID, list[Attribute]] = defaultdict(list)
        for attribute in directory.attributes:
            self.attributes[attribute.link_id].append(attribute)
        self.terms = {t.id: t for t in directory.taxonomy_terms}
        self.taxonomies = {t.id: t for t in directory.taxonomies}
        self.by_fk: dict[tuple[str, uuid.UUID], list[Any]] = defaultdict(list)
        for rows, fk in (
            (directory.addresses, "location_id"),
            (directory.service_areas, "service_id"),
            (directory.service_at_locations, "service_id"),
            (directory.services, "organization_id"),
            (directory.locations, "organization_id"),
        ):
            for row in rows:
                value = getattr(row, fk)
                if value is not None:
                    self.by_fk[(type(row).table + "." + fk, value)].append(row)
        self.placed_locations: set[uuid.UUID] = {loc.id for loc in directory.locations if loc.organization_id}

    @staticmethod
    def _group(rows: list[Any], order: tuple[str, ...]) -> dict[tuple[str, uuid.UUID], list[Any]]:
        grouped: dict[tuple[str, uuid.UUID], list[Any]] = defaultdict(list)
        for row in rows:
            owner = _owner(row, order)
            if owner is not None:
                grouped[owner].append(row)
        return grouped

    def _put(self, doc: dict[str, Any], key: str, items: list[dict[str, Any]]) -> None:
        if items:
            doc[key] = items

    def term(self, term: TaxonomyTerm) -> dict[str, Any]:
        doc = term.hsds()
        if term.taxonomy_id is not None and term.taxonomy_id in self.taxonomies:
            doc["taxonomy_detail"] = self.taxonomies[term.taxonomy_id].hsds()
        return doc

    def attrs(self, doc: dict[str, Any], record_id: uuid.UUID) -> dict[str, Any]:
        items = []
        for attribute in self.attributes.get(record_id, []):
            item = attribute.hsds()
            item["taxonomy_term"] = self.term(self.terms[attribute.taxonomy_term_id])
            items.append(item)
        self._put(doc, "attributes", items)
        return doc

    def language(self, language: Language) -> dict[str, Any]:
        return self.attrs(language.hsds(), language.id)

    def phone(self, phone: Phone) -> dict[str, Any]:
        doc = phone.hsds()
        self._put(
            doc, "languages", [self.language(x) for x in self.languages.get(("phone_id", phone.id), [])]
        )
        return self.attrs(doc, phone.id)

    def contact(self, contact: Contact) -> dict[str, Any]:
        doc = contact.hsds()
        self._put(doc, "phones", [self.phone(p) for p in self.phones.get(("contact_id", contact.id), [])])
        return self.attrs(doc, contact.id)

    def schedule(self, schedule: Schedule) -> dict[str, Any]:
        return self.attrs(schedule.hsds(), schedule.id)

    def _owned(self, doc: dict[str, Any], fk: str, record_id: uuid.UUID, keys: tuple[str, ...]) -> None:
        key = (fk, record_id)
        if "contacts" in keys:
            self._put(doc, "contacts", [self.contact(c) for c in self.contacts.get(key, [])])
        if "phones" in keys:
            self._put(doc, "phones", [self.phone(p) for p in self.phones.get(key, [])])
        if "schedules" in keys:
            self._put(doc, "schedules", [self.schedule(s) for s in self.schedules.get(key, [])])
        if "languages" in keys:
            self._put(doc, "languages", [self.language(x) for x in self.languages.get(key, [])])

    def location(self, location: Location) -> dict[str, Any]:
        doc = location.hsds()
        self._owned(doc, "location_id", location.id, ("languages",))
        addresses = self.by_fk.get(("addresses.location_id", location.id), [])
        self._put(doc, "addresses", [self.attrs(a.hsds(), a.id) for a in addresses])
        self._owned(doc, "location_id", location.id, ("contacts", "phones", "schedules"))
        return self.attrs(doc, location.id)

    def service_at_location(self, sal: ServiceAtLocation) -> dict[str, Any]:
        doc = sal.hsds()
        self._owned(doc, "service_at_location_id", sal.id, ("contacts", "phones", "schedules"))
        if sal.location_id not in self.placed_locations:
            # A location no organization owns can only travel nested in the link that uses it.
            self.placed_locations.add(sal.location_id)
            location = self.d.get("locations", sal.location_id)
            if isinstance(location, Location):
                doc["location"] = self.location(location)
        return self.attrs(doc, sal.id)

    def service(self, service: Service) -> dict[str, Any]:
        doc = service.hsds()
        self._owned(doc, "service_id", service.id, ("phones", "schedules"))
        areas = self.by_fk.get(("service_areas.service_id", service.id), [])
        self._put(doc, "service_areas", [self.attrs(a.hsds(), a.id) for a in areas])
        sals = self.by_fk.get(("service_at_locations.service_id", service.id), [])
        self._put(doc, "service_at_locations", [self.service_at_location(s) for s in sals])
        self._owned(doc, "service_id", service.id, ("languages", "contacts"))
        return self.attrs(doc, service.id)

    def organization(self, organization_id: uuid.UUID) -> dict[str, Any]:
        organization = self.d.get("organizations", organization_id)
        assert organization is not None
        doc = organization.hsds()
        self._owned(doc, "organization_id", organization_id, ("contacts", "phones"))
        locations = self.by_fk.get(("locations.organization_id", organization_id), [])
        self._put(doc, "locations", [self.location(loc) for loc in locations])
        services = self.by_fk.get(("services.organization_id", organization_id), [])
        self._put(doc, "services", [self.service(s) for s in services])
        return self.attrs(doc, organization_id)


def export_hsds(directory: Directory, *, validate: bool = True) -> list[dict[str, Any]]:
    """The directory as HSDS 3.0 organization documents (nested services, locations, phones...).

    Rows that no organization reaches (a taxonomy term no attribute uses, a location no organization
    or service uses) cannot appear in this format; `unreachable(directory)` lists them.
    """
    exporter = _Exporter(directory)
    documents = [exporter.organization(o.id) for o in directory.organizations]
    if validate:
        errors = [
            f"organization {doc['id']} {error}"
            for doc in documents
            for error in validate_hsds("organization", doc)
        ]
        if errors:
            raise InvalidHsdsExport(errors)
    return documents


def unreachable(directory: Directory) -> dict[str, list[uuid.UUID]]:
    """Rows `export_hsds` cannot place under any organization, per table (empty tables left out)."""
    found: dict[str, set[str]] = defaultdict(set)

    def walk(value: Any, table_hint: str | None) -> None:
        if isinstance(value, dict):
            if table_hint is not None and "id" in value:
                found[table_hint].add(value["id"])
            for key, child in value.items():
                walk(child, _KEY_TABLES.get(key))
        elif isinstance(value, list):
            for item in value:
                walk(item, table_hint)

    walk(export_hsds(directory, validate=False), "organizations")
    missing: dict[str, list[uuid.UUID]] = {}
    for table in directory.counts():
        ids = [r.id for r in directory.rows(table) if str(r.id) not in found[table]]
        if ids:
            missing[table] = ids
    return missing


_KEY_TABLES = {
    "services": "services",
    "locations": "locations",
    "location": "locations",
    "service_at_locations": "service_at_locations",
    "addresses": "addresses",
    "contacts": "contacts",
    "phones": "phones",
    "schedules": "schedules",
    "languages": "languages",
    "service_areas": "service_areas",
    "attributes": "attributes",
    "taxonomy_term": "taxonomy_terms",
    "taxonomy_detail": "taxonomies",
}
