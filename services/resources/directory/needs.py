"""Need categories: the `diversion-needs` taxonomy that tags directory services with casework's domains.

The slugs are the same strings casework uses for its assessment / support-plan domains, so a plan goal
in `housing` finds the services tagged `housing`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from .model import Directory, Service, Taxonomy, TaxonomyTerm

HOUSING = "housing"
MENTAL_HEALTH_CRISIS = "mental_health_crisis"
SUBSTANCE_USE = "substance_use"
PHYSICAL_HEALTH = "physical_health"
EMPLOYMENT = "employment"
EDUCATION = "education"
LEGAL = "legal"
FAMILY_PARENTING = "family_parenting"
VIOLENCE_PREVENTION = "violence_prevention"
HIV_AIDS = "hiv_aids"

NEED_CATEGORIES: tuple[str, ...] = (
    HOUSING,
    MENTAL_HEALTH_CRISIS,
    SUBSTANCE_USE,
    PHYSICAL_HEALTH,
    EMPLOYMENT,
    EDUCATION,
    LEGAL,
    FAMILY_PARENTING,
    VIOLENCE_PREVENTION,
    HIV_AIDS,
)

NEED_TAXONOMY_NAME = "diversion-needs"

# Fixed namespace for every id this project derives (seed records, need taxonomy): the same input
# always yields the same id, so loading the seed twice updates rather than duplicates.
DIRECTORY_NAMESPACE = uuid.UUID("6f1f4a52-3c1e-5b8e-9d4a-2a7e0c1d5b90")


def stable_id(*parts: str) -> uuid.UUID:
    """A deterministic UUID (v5) for the record named by `parts`: ("organization", "St. Patrick Center")."""
    return uuid.uuid5(DIRECTORY_NAMESPACE, "/".join(parts))


NEED_TAXONOMY_ID = stable_id("taxonomy", NEED_TAXONOMY_NAME)

NEED_LABELS: dict[str, tuple[str, str]] = {
    HOUSING: ("Housing", "Shelter, housing search and housing stability."),
    MENTAL_HEALTH_CRISIS: (
        "Mental health and crisis intervention",
        "Mental and behavioral health care and crisis support.",
    ),
    SUBSTANCE_USE: ("Substance use", "Treatment and support for substance use."),
    PHYSICAL_HEALTH: ("Physical health", "Medical and public health care."),
    EMPLOYMENT: ("Employment", "Job readiness, training and placement."),
    EDUCATION: ("Education", "Schooling, GED and educational goals."),
    LEGAL: ("Legal", "Legal advice and representation."),
    FAMILY_PARENTING: ("Family and parenting", "Support for parents, fathers and families."),
    VIOLENCE_PREVENTION: ("Violence prevention", "Violence prevention and support after violent injury."),
    HIV_AIDS: ("HIV/AIDS", "HIV/AIDS services."),
}

# Words found in service names / other taxonomies' term names -> need categories. Matching is by
# lower-cased substring, so "Substance Abuse" and "Substance Use Concerns" both land in substance_use.
LABEL_KEYWORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("housing", frozenset({HOUSING})),
    ("shelter", frozenset({HOUSING})),
    ("homeless", frozenset({HOUSING})),
    ("mental health", frozenset({MENTAL_HEALTH_CRISIS})),
    ("crisis", frozenset({MENTAL_HEALTH_CRISIS})),
    ("therapy", frozenset({MENTAL_HEALTH_CRISIS})),
    # "Behavioral health" conventionally covers both mental health and substance use care.
    ("behavioral health", frozenset({MENTAL_HEALTH_CRISIS, SUBSTANCE_USE})),
    ("substance", frozenset({SUBSTANCE_USE})),
    ("addiction", frozenset({SUBSTANCE_USE})),
    ("physical health", frozenset({PHYSICAL_HEALTH})),
    ("health care", frozenset({PHYSICAL_HEALTH})),
    ("department of health", frozenset({PHYSICAL_HEALTH})),
    ("employment", frozenset({EMPLOYMENT})),
    ("job", frozenset({EMPLOYMENT})),
    ("education", frozenset({EDUCATION})),
    ("legal", frozenset({LEGAL})),
    ("law clinic", frozenset({LEGAL})),
    ("parenting", frozenset({FAMILY_PARENTING})),
    ("famil", frozenset({FAMILY_PARENTING})),
    ("father", frozenset({FAMILY_PARENTING})),
    ("violence", frozenset({VIOLENCE_PREVENTION})),
    ("injury", frozenset({VIOLENCE_PREVENTION})),
    ("hiv", frozenset({HIV_AIDS})),
    ("aids", frozenset({HIV_AIDS})),
)


class UnknownNeedCategory(ValueError):
    """The slug is not one of NEED_CATEGORIES."""


def categories_for_label(label: str) -> set[str]:
    """Need categories a free-text label names ("Legal Services Through SLU Law Clinic" -> {"legal"})."""
    text = label.lower()
    if text.strip().replace(" ", "_") in NEED_CATEGORIES:
        return {text.strip().replace(" ", "_")}
    found: set[str] = set()
    for keyword, needs in LABEL_KEYWORDS:
        if keyword in text:
            found |= needs
    return found


def need_term_id(slug: str) -> uuid.UUID:
    if slug not in NEED_CATEGORIES:
        raise UnknownNeedCategory(slug)
    return stable_id("taxonomy_term", NEED_TAXONOMY_NAME, slug)


def need_taxonomy() -> tuple[Taxonomy, list[TaxonomyTerm]]:
    """The `diversion-needs` taxonomy and its ten terms, with stable ids."""
    taxonomy = Taxonomy(
        id=NEED_TAXONOMY_ID,
        name=NEED_TAXONOMY_NAME,
        description="Need categories of the diversion program's support plans (casework domains).",
        version="1",
    )
    terms = [
        TaxonomyTerm(
            id=need_term_id(slug),
            code=slug,
            name=NEED_LABELS[slug][0],
            description=NEED_LABELS[slug][1],
            taxonomy=NEED_TAXONOMY_NAME,
            taxonomy_id=NEED_TAXONOMY_ID,
        )
        for slug in NEED_CATEGORIES
    ]
    return taxonomy, terms


def _term_categories(code: str | None, name: str | None, taxonomy: str | None) -> set[str]:
    if taxonomy == NEED_TAXONOMY_NAME and code in NEED_CATEGORIES:
        return {code}
    # A term from another taxonomy (e.g. a partner's own) still counts when its name says the need.
    return categories_for_label(name or "")


def need_categories(service: Service | Mapping[str, Any], directory: Directory | None = None) -> set[str]:
    """The need categories a service is tagged with.

    `service` is an HSDS service document (its `attributes[].taxonomy_term` are read) or a normalized
    `Service`, whose attributes live in `directory` (required then).
    """
    found: set[str] = set()
    if isinstance(service, Service):
        if directory is None:
            raise TypeError("need_categories(Service) needs the Directory that holds its attributes")
        for term in directory.terms_of(service.id):
            taxonomy_name = term.taxonomy
            if term.taxonomy_id == NEED_TAXONOMY_ID:
                taxonomy_name = NEED_TAXONOMY_NAME
            found |= _term_categories(term.code, term.name, taxonomy_name)
        return found
    for attribute in service.get("attributes") or []:
        doc: Mapping[str, Any] = attribute.get("taxonomy_term") or {}
        doc_taxonomy = doc.get("taxonomy")
        if doc.get("taxonomy_id") == str(NEED_TAXONOMY_ID):
            doc_taxonomy = NEED_TAXONOMY_NAME
        found |= _term_categories(doc.get("code"), doc.get("name"), doc_taxonomy)
    return found
