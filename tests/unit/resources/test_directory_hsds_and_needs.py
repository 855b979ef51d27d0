"""HSDS 3.0 schema validation (local `$ref`s, JSON paths) and the need-category mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.resources.directory import (
    NEED_CATEGORIES,
    UnknownHsdsKind,
    categories_for_label,
    need_categories,
    validate_hsds,
)
from services.resources.directory.model import Service

FIXTURES = Path(__file__).parent / "fixtures"


def test_hsds_example_organization_is_valid() -> None:
    document = json.loads((FIXTURES / "organization_full.json").read_text(encoding="utf-8"))

    assert validate_hsds("organization", document) == []


def test_errors_deep_in_a_document_name_their_json_path() -> None:
    document = json.loads((FIXTURES / "organization_full.json").read_text(encoding="utf-8"))
    document["services"][0]["status"] = "open"
    document["locations"][0]["addresses"][0].pop("postal_code")
    document["services"][0]["phones"][0]["extension"] = "ext. 100"

    errors = validate_hsds("organization", document)

    assert errors == [
        "$.locations[0].addresses[0]: 'postal_code' is a required property",
        "$.services[0].phones[0].extension: 'ext. 100' is not of type 'number'",
        "$.services[0].status: 'open' is not one of ['active', 'inactive', 'defunct', 'temporarily closed']",
    ]


def test_ids_must_be_uuids() -> None:
    assert validate_hsds("phone", {"id": "phone-1", "number": "314-555-0100"}) == [
        "$.id: 'phone-1' is not a 'uuid'"
    ]


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownHsdsKind):
        validate_hsds("spaceship", {})


def test_need_category_slugs_are_casework_domains() -> None:
    assert NEED_CATEGORIES == (
        "housing",
        "mental_health_crisis",
        "substance_use",
        "physical_health",
        "employment",
        "education",
        "legal",
        "family_parenting",
        "violence_prevention",
        "hiv_aids",
    )


@pytest.mark.parametrize(
    ("label", "needs"),
    [
        ("Substance Abuse", {"substance_use"}),
        ("Legal Services Through SLU Law Clinic", {"legal"}),
        ("HIV/AIDS Services", {"hiv_aids"}),
        ("Behavioral Health", {"mental_health_crisis", "substance_use"}),
        ("Parenting", {"family_parenting"}),
        ("housing", {"housing"}),
        ("Safety Council of Greater St. Louis", set()),
    ],
)
def test_free_text_labels_map_to_need_categories(label: str, needs: set[str]) -> None:
    assert categories_for_label(label) == needs


def test_a_partner_taxonomy_term_counts_by_its_name() -> None:
    service = {"attributes": [{"taxonomy_term": {"name": "Emergency Shelter", "taxonomy": "partner-codes"}}]}

    assert need_categories(service) == {"housing"}


def test_a_normalized_service_needs_its_directory_to_find_its_tags() -> None:
    service = Service(
        id="7b3034f9-15f3-568d-9dfb-c6a8e7b356c6",
        organization_id="fa467bee-3840-509e-9c52-6465b5c4169f",
        name="x",
    )

    with pytest.raises(TypeError):
        need_categories(service)
