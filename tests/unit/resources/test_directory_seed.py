"""The seed's St. Louis directory: complete, HSDS-valid, stable, tagged with casework's need categories."""

from __future__ import annotations

import json

from services.resources.directory import (
    NEED_CATEGORIES,
    SEED_PATH,
    build_seed_directory,
    export_hsds,
    load_seed_directory,
    need_categories,
    validate_hsds,
)
from services.resources.directory.model import Directory, Organization


def _org(directory: Directory, name: str) -> Organization:
    matches = [o for o in directory.organizations if o.name.lower() == name.lower()]
    assert len(matches) == 1, f"{name}: {len(matches)} organizations"
    return matches[0]


def _numbers(directory: Directory, org: Organization) -> list[tuple[str, int | float | None, str | None]]:
    return sorted(
        ((p.number, p.extension, p.description) for p in directory.phones if p.organization_id == org.id),
        key=str,
    )


def test_seed_export_validates_against_hsds_schemas() -> None:
    documents = export_hsds(build_seed_directory(), validate=False)

    assert documents
    assert {doc["id"]: validate_hsds("organization", doc) for doc in documents} == {
        doc["id"]: [] for doc in documents
    }


def test_committed_seed_file_is_the_export_of_the_seed_builder() -> None:
    on_disk = json.loads(SEED_PATH.read_text(encoding="utf-8"))

    assert on_disk == export_hsds(build_seed_directory())


def test_seed_file_loads_without_issues_and_equals_the_builder() -> None:
    result = load_seed_directory()

    assert result.issues == []
    assert result.directory.normalized() == build_seed_directory().normalized()


def test_seed_ids_are_the_same_on_every_build_so_reloading_is_idempotent() -> None:
    first, second = build_seed_directory(), build_seed_directory()

    assert first.normalized() == second.normalized()
    ids = [r["id"] for rows in first.normalized().values() for r in rows]
    assert len(ids) == len(set(ids))


def test_seed_names_every_organization_once() -> None:
    directory = build_seed_directory()

    assert sorted(o.name for o in directory.organizations) == sorted(
        [
            "TAP IN Center",
            "Betty Jean Kerr People's Health Centers",
            "Bullet Related Injury Center",
            "City of St. Louis Department of Health",
            "Fathers & Families Support Center",
            "Mission: St. Louis",
            "Office of Violence Prevention",
            "Places For People",
            "St. Patrick Center",
            "Safety Council of Greater St. Louis",
        ]
    )


def test_mission_st_louis_is_listed_once_although_the_seed_lists_it_twice() -> None:
    directory = build_seed_directory()

    mission = _org(directory, "Mission: St. Louis")
    assert len(directory.locations_of(mission.id)) == 1
    assert sorted(s.name for s in directory.services_of(mission.id)) == [
        "Education",
        "Employment",
        "Legal Services Through SLU Law Clinic",
    ]
    assert _numbers(directory, mission) == [("(314) 534-1188", None, None)]


def test_betty_jean_kerr_has_three_locations_each_with_its_line_and_the_after_hours_line() -> None:
    directory = build_seed_directory()
    bjk = _org(directory, "Betty Jean Kerr People's Health Centers")

    locations = directory.locations_of(bjk.id)
    addresses = {a.location_id: a for a in directory.addresses}
    seen = {}
    for location in locations:
        address = addresses[location.id]
        lines = {(p.number, p.description) for p in directory.phones if p.location_id == location.id}
        seen[(address.address_1, address.city, address.postal_code)] = lines
    assert seen == {
        ("5701 Delmar Blvd.", "St. Louis", "63112"): {
            ("(314) 367-7848", None),
            ("(844) 841-3876", "After Hours"),
        },
        ("11642 West Florissant", "Florissant", "63033"): {
            ("(314) 838-8220", None),
            ("(844) 841-3876", "After Hours"),
        },
        ("49 N. Florissant Rd.", "Ferguson", "63135-2331"): {
            ("(314) 633-8921", None),
            ("(844) 841-3876", "After Hours"),
        },
    }
    (service,) = directory.services_of(bjk.id)
    assert {sal.location_id for sal in directory.service_at_locations if sal.service_id == service.id} == {
        loc.id for loc in locations
    }


def test_places_for_people_department_lines_keep_their_extensions() -> None:
    directory = build_seed_directory()

    assert _numbers(directory, _org(directory, "Places For People")) == sorted(
        [
            ("314-615-9105", 295, "Adult Behavioral Health"),
            ("314-615-9105", 292, "Youth & Family Services"),
            ("314-615-9105", 402, "Outpatient Therapy"),
            ("314-615-2119", None, "Substance Use Concerns"),
            ("314-535-5600", None, "Main Line"),
        ],
        key=str,
    )


def test_tap_in_center_is_listed_for_the_city_of_st_louis_without_an_invented_address() -> None:
    directory = build_seed_directory()
    tap_in = _org(directory, "TAP IN Center")

    assert directory.locations_of(tap_in.id) == []
    (service,) = directory.services_of(tap_in.id)
    assert [a.name for a in directory.service_areas if a.service_id == service.id] == ["City of St. Louis"]


def test_every_email_website_and_phone_number_of_the_seed_is_in_the_directory() -> None:
    directory = build_seed_directory()

    assert {o.email for o in directory.organizations if o.email} == {
        "info@thebric.org",
        "health@stlouis-mo.gov",
        "violence-prevention@stlouis-mo.gov",
        "mb.proost@stlsafety.org",
    }
    assert {o.website for o in directory.organizations if o.website} == {"https://fatherssupportcenter.org"}
    assert {p.number for p in directory.phones} == {
        "(314) 367-7848",
        "(844) 841-3876",
        "(314) 838-8220",
        "(314) 633-8921",
        "314-624-0398",
        "314-612-5100",
        "314-333-4170",
        "(314) 534-1188",
        "314-299-2203",
        "314-615-9105",
        "314-615-2119",
        "314-535-5600",
        "(314) 802-0700",
        "314-621-9200",
    }


def test_seed_invents_no_coordinates_hours_or_contacts() -> None:
    directory = build_seed_directory()

    assert all(loc.latitude is None and loc.longitude is None for loc in directory.locations)
    assert directory.schedules == []
    assert directory.contacts == []
    assert all(s.assured_date is None for s in directory.services)


def test_st_patrick_center_is_tagged_housing() -> None:
    directory = build_seed_directory()
    st_patrick = _org(directory, "St. Patrick Center")

    tags = set().union(*(need_categories(s, directory) for s in directory.services_of(st_patrick.id)))

    assert "housing" in tags
    assert tags == {"housing", "employment", "mental_health_crisis", "substance_use"}


def test_places_for_people_is_tagged_substance_use_in_the_exported_hsds_too() -> None:
    directory = build_seed_directory()
    (document,) = [d for d in export_hsds(directory) if d["name"] == "Places For People"]

    tags = set().union(*(need_categories(service) for service in document["services"]))

    assert tags == {"mental_health_crisis", "substance_use", "hiv_aids", "employment", "family_parenting"}


def test_every_need_category_has_at_least_one_seed_service() -> None:
    directory = build_seed_directory()

    used = set().union(*(need_categories(s, directory) for s in directory.services))

    assert used == set(NEED_CATEGORIES)
