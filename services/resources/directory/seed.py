"""The St. Louis resource directory from the seed (`cao-diversion-unit.txt`), as data with stable ids.

`build_seed_directory()` states the seed's facts and nothing more;
`services/resources/seed/stl-directory.json` is its HSDS export (regenerate with
`python -m services.resources.directory.seed`), and `load_seed_directory()` reads that file back.
See `services/resources/seed/NOTES.md` for each choice.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .export import export_hsds
from .importers import HsdsJsonImporter, ImportResult
from .model import (
    Address,
    Attribute,
    Directory,
    Location,
    Organization,
    Phone,
    Service,
    ServiceArea,
    ServiceAtLocation,
)
from .needs import (
    EDUCATION,
    EMPLOYMENT,
    FAMILY_PARENTING,
    HIV_AIDS,
    HOUSING,
    LEGAL,
    MENTAL_HEALTH_CRISIS,
    PHYSICAL_HEALTH,
    SUBSTANCE_USE,
    VIOLENCE_PREVENTION,
    need_taxonomy,
    need_term_id,
    stable_id,
)

SEED_PATH = Path(__file__).resolve().parent.parent / "seed" / "stl-directory.json"


@dataclass(frozen=True)
class _Line:
    number: str
    description: str | None = None
    extension: int | None = None


@dataclass(frozen=True)
class _Place:
    address_1: str
    city: str
    postal_code: str
    phones: tuple[_Line, ...] = ()
    address_2: str | None = None
    state_province: str = "MO"


@dataclass(frozen=True)
class _Offer:
    name: str
    needs: tuple[str, ...] = ()
    description: str | None = None
    area: str | None = None


@dataclass(frozen=True)
class _Org:
    name: str
    places: tuple[_Place, ...] = ()
    offers: tuple[_Offer, ...] = ()
    alternate_name: str | None = None
    email: str | None = None
    website: str | None = None
    phones: tuple[_Line, ...] = field(default=())


_AFTER_HOURS = _Line("(844) 841-3876", "After Hours")

# In the seed's order; Mission: St. Louis is listed twice there with the same facts, once here.
SEED_ORGANIZATIONS: tuple[_Org, ...] = (
    _Org("TAP IN Center", offers=(_Offer("TAP IN Center", area="City of St. Louis"),)),
    _Org(
        "Betty Jean Kerr People's Health Centers",
        places=(
            _Place("5701 Delmar Blvd.", "St. Louis", "63112", (_Line("(314) 367-7848"), _AFTER_HOURS)),
            _Place("11642 West Florissant", "Florissant", "63033", (_Line("(314) 838-8220"), _AFTER_HOURS)),
            _Place("49 N. Florissant Rd.", "Ferguson", "63135-2331", (_Line("(314) 633-8921"), _AFTER_HOURS)),
        ),
        offers=(
            _Offer(
                "Comprehensive mental and physical health care",
                (MENTAL_HEALTH_CRISIS, PHYSICAL_HEALTH),
                description=(
                    "Comprehensive mental and physical health care for impoverished and uninsured patients"
                ),
            ),
        ),
    ),
    _Org(
        "Bullet Related Injury Center",
        alternate_name="BRIC Center",
        email="info@thebric.org",
        places=(_Place("5501 Delmar Blvd", "St. Louis", "63112", (_Line("314-624-0398"),)),),
        offers=(_Offer("Bullet Related Injury Center", (VIOLENCE_PREVENTION,)),),
    ),
    _Org(
        "City of St. Louis Department of Health",
        email="health@stlouis-mo.gov",
        places=(_Place("1520 Market St", "St. Louis", "63103", (_Line("314-612-5100"),), address_2="#4027"),),
        offers=(_Offer("City of St. Louis Department of Health", (PHYSICAL_HEALTH,)),),
    ),
    _Org(
        "Fathers & Families Support Center",
        website="https://fatherssupportcenter.org",
        places=(_Place("1601 Olive St", "St. Louis", "63103", (_Line("314-333-4170"),)),),
        offers=(_Offer("Fathers & Families Support Center", (FAMILY_PARENTING,)),),
    ),
    _Org(
        "Mission: St. Louis",
        places=(_Place("3108 N. Grand Blvd.", "St. Louis", "63107", (_Line("(314) 534-1188"),)),),
        offers=(
            _Offer("Employment", (EMPLOYMENT,)),
            _Offer("Education", (EDUCATION,)),
            _Offer("Legal Services Through SLU Law Clinic", (LEGAL,)),
        ),
    ),
    _Org(
        "Office of Violence Prevention",
        email="violence-prevention@stlouis-mo.gov",
        places=(
            _Place(
                "2125 Bissell Street",
                "St. Louis",
                "63107",
                (_Line("314-299-2203"),),
                address_2="@ Urban League-WTC",
            ),
        ),
        offers=(_Offer("Office of Violence Prevention", (VIOLENCE_PREVENTION,)),),
    ),
    _Org(
        "Places For People",
        places=(
            _Place(
                "1001 Lynch Street",
                "St. Louis",
                "63118",
                (
                    _Line("314-615-9105", "Adult Behavioral Health", 295),
                    _Line("314-615-9105", "Youth & Family Services", 292),
                    _Line("314-615-9105", "Outpatient Therapy", 402),
                    _Line("314-615-2119", "Substance Use Concerns"),
                    _Line("314-535-5600", "Main Line"),
                ),
            ),
        ),
        offers=(
            _Offer("Mental Health", (MENTAL_HEALTH_CRISIS,)),
            _Offer("Substance Abuse", (SUBSTANCE_USE,)),
            _Offer("HIV/AIDS Services", (HIV_AIDS,)),
            _Offer("Employment", (EMPLOYMENT,)),
            _Offer("Parenting", (FAMILY_PARENTING,)),
        ),
    ),
    _Org(
        "St. Patrick Center",
        places=(_Place("800 N. Tucker Blvd.", "St. Louis", "63101", (_Line("(314) 802-0700"),)),),
        offers=(
            _Offer("Housing", (HOUSING,)),
            _Offer("Employment", (EMPLOYMENT,)),
            # Behavioral health conventionally spans mental health and substance use care.
            _Offer("Behavioral Health", (MENTAL_HEALTH_CRISIS, SUBSTANCE_USE)),
        ),
    ),
    _Org(
        "Safety Council of Greater St. Louis",
        email="mb.proost@stlsafety.org",
        places=(_Place("2330 Hampton Ave", "St. Louis", "63139", (_Line("314-621-9200"),)),),
        offers=(_Offer("Safety Council of Greater St. Louis"),),
    ),
)


def build_seed_directory() -> Directory:
    """The seed's directory with deterministic ids (uuid5 of names), so reloading it is idempotent."""
    taxonomy, terms = need_taxonomy()
    directory = Directory(taxonomies=[taxonomy], taxonomy_terms=terms)
    for org in SEED_ORGANIZATIONS:
        org_id = stable_id("organization", org.name)
        directory.organizations.append(
            Organization(
                id=org_id,
                name=org.name,
                alternate_name=org.alternate_name,
                description="",  # required by HSDS; the seed describes no organization
                email=org.email,
                website=org.website,
            )
        )
        location_ids = []
        for place in org.places:
            location_id = stable_id("location", org.name, place.address_1)
            location_ids.append(location_id)
            directory.locations.append(
                Location(id=location_id, location_type="physical", organization_id=org_id)
            )
            directory.addresses.append(
                Address(
                    id=stable_id("address", org.name, place.address_1),
                    location_id=location_id,
                    address_1=place.address_1,
                    address_2=place.address_2,
                    city=place.city,
                    state_province=place.state_province,
                    postal_code=place.postal_code,
                    country="US",
                    address_type="physical",
                )
            )
            for line in place.phones:
                label = line.description or "main"
                directory.phones.append(
                    Phone(
                        id=stable_id("phone", org.name, place.address_1, label, line.number),
                        organization_id=org_id,
                        location_id=location_id,
                        number=line.number,
                        extension=line.extension,
                        description=line.description,
                    )
                )
        for offer in org.offers:
            service_id = stable_id("service", org.name, offer.name)
            directory.services.append(
                Service(
                    id=service_id,
                    organization_id=org_id,
                    name=offer.name,
                    description=offer.description,
                    status="active",
                )
            )
            for location_id in location_ids:
                directory.service_at_locations.append(
                    ServiceAtLocation(
                        id=stable_id("service_at_location", str(service_id), str(location_id)),
                        service_id=service_id,
                        location_id=location_id,
                    )
                )
            if offer.area is not None:
                directory.service_areas.append(
                    ServiceArea(
                        id=stable_id("service_area", str(service_id), offer.area),
                        service_id=service_id,
                        name=offer.area,
                    )
                )
            for slug in offer.needs:
                directory.attributes.append(
                    Attribute(
                        id=stable_id("attribute", str(service_id), slug),
                        link_id=service_id,
                        link_entity="service",
                        link_type="need_category",
                        taxonomy_term_id=need_term_id(slug),
                    )
                )
    return directory


def load_seed_directory(path: Path = SEED_PATH) -> ImportResult:
    """Read the committed seed file through the HSDS JSON importer."""
    return HsdsJsonImporter().load(path)


def write_seed_directory(path: Path = SEED_PATH) -> None:
    documents = export_hsds(build_seed_directory())
    path.write_text(json.dumps(documents, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_seed_directory(Path(sys.argv[1]) if len(sys.argv) > 1 else SEED_PATH)
