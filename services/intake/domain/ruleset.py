"""Agency ruleset packs: versioned YAML naming the programs, their criteria and the agency's offense lists.

A pack is checked whole when it loads (unknown criterion, bad params, inconsistent lists are refused with a
message naming the program, criterion and parameter) and carries a content hash so a version can be pinned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .criteria import (
    AnyCriterion,
    Criterion,
    CriterionParams,
    CriterionResult,
    OffenseLists,
    ScreeningContext,
    load_criteria,
    normalize_statute,
)
from .referral import Referral

MAX_PACK_BYTES = 1_000_000

Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class RulesetError(ValueError):
    """A pack cannot be used; the message says where (program, criterion, parameter) and why."""


# --- the pack as written (YAML schema) -----------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RequirementSpec(_Spec):
    criterion: Annotated[str, Field(min_length=1, max_length=64)]
    params: dict[str, Any] = {}


class DurationSpec(_Spec):
    min_months: Annotated[int, Field(ge=1, le=120)]
    max_months: Annotated[int, Field(ge=1, le=120)]

    @model_validator(mode="after")
    def _ordered(self) -> DurationSpec:
        if self.min_months > self.max_months:
            raise ValueError(f"min_months {self.min_months} is above max_months {self.max_months}")
        return self


class ProgramSpec(_Spec):
    id: Slug
    name: Text
    description: Annotated[str, Field(max_length=2000)] = ""
    duration: DurationSpec
    requires: Annotated[list[RequirementSpec], Field(max_length=50)] = []


class StatuteSpec(_Spec):
    statute: Annotated[str, Field(min_length=1, max_length=40)]
    description: Text


class OffenseListsSpec(_Spec):
    violent: Annotated[list[StatuteSpec], Field(max_length=5000)] = []
    non_violent: Annotated[list[StatuteSpec], Field(max_length=5000)] = []


class ReasonSpec(_Spec):
    code: Code
    label: Text


class PackSpec(_Spec):
    agency: Slug
    name: Text
    version: Annotated[str, Field(min_length=1, max_length=64)]
    shared_requires: Annotated[list[RequirementSpec], Field(max_length=50)] = []
    programs: Annotated[list[ProgramSpec], Field(min_length=1, max_length=100)]
    offenses: OffenseListsSpec = OffenseListsSpec()
    decline_reasons: Annotated[list[ReasonSpec], Field(min_length=1, max_length=200)]
    override_reasons: Annotated[list[ReasonSpec], Field(min_length=1, max_length=200)]
    # Why a decision is put off. A pack that names none gets DEFAULT_DEFERRAL_REASONS (packs written before
    # deferrals took a reason keep their content hash, so their screenings still find them).
    deferral_reasons: Annotated[list[ReasonSpec], Field(min_length=1, max_length=200)] | None = None


DEFAULT_DEFERRAL_REASONS: dict[str, str] = {
    "awaiting_information": "Waiting for information needed to decide (records, reports, statements)",
    "eligibility_date": "A program's criteria are met on a later date",
    "pending_case": "Another case of the defendant is pending",
    "victim_consultation": "The victim has not been consulted yet",
    "defendant_unavailable": "The defendant cannot be reached or is unavailable",
}


# --- the loaded ruleset --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """A criterion bound to its validated params, ready to evaluate."""

    criterion: str
    plugin: Criterion[Any]
    params: CriterionParams

    def evaluate(self, referral: Referral, context: ScreeningContext) -> CriterionResult:
        return self.plugin.evaluate(referral, self.params, context)


@dataclass(frozen=True)
class Program:
    id: str
    name: str
    description: str
    min_months: int
    max_months: int
    requires: tuple[Requirement, ...]


@dataclass(frozen=True)
class Ruleset:
    agency: str
    name: str
    version: str
    content_hash: str  # "sha256:<hex>" of the pack's data (comments and layout do not change it)
    shared_requires: tuple[Requirement, ...]
    programs: tuple[Program, ...]
    offenses: OffenseLists
    decline_reasons: Mapping[str, str]  # code -> label
    override_reasons: Mapping[str, str]
    deferral_reasons: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_DEFERRAL_REASONS))

    def program(self, program_id: str) -> Program | None:
        return next((p for p in self.programs if p.id == program_id), None)


def content_hash(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_ruleset(text: str, *, source: str = "<pack>", criteria: Mapping[str, AnyCriterion] | None = None) -> Ruleset:
    """Load a pack from YAML text."""
    if len(text.encode("utf-8")) > MAX_PACK_BYTES:
        raise RulesetError(f"{source}: pack is larger than {MAX_PACK_BYTES} bytes")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesetError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise RulesetError(f"{source}: a pack is a YAML mapping with agency, version, programs...")
    return ruleset_from_mapping(document, source=source, criteria=criteria)


def load_ruleset(path: str | Path, *, criteria: Mapping[str, AnyCriterion] | None = None) -> Ruleset:
    """Load a pack from a YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesetError(f"{path}: cannot read pack: {exc}") from exc
    return parse_ruleset(text, source=str(path), criteria=criteria)


def bundled_pack_text(agency: str) -> str:
    """A pack shipped with intake (services/intake/packs/<agency>.yaml), e.g. the demo `stl-cao`."""
    resource = files("services.intake.packs") / f"{agency}.yaml"
    if not resource.is_file():
        raise RulesetError(f"no bundled pack for agency {agency!r}")
    return resource.read_text(encoding="utf-8")


def load_bundled_ruleset(agency: str = "stl-cao") -> Ruleset:
    return parse_ruleset(bundled_pack_text(agency), source=f"packs/{agency}.yaml")


def ruleset_from_mapping(
    document: Mapping[str, Any], *, source: str = "<pack>", criteria: Mapping[str, AnyCriterion] | None = None
) -> Ruleset:
    """Validate a parsed pack and bind every requirement to its criterion plugin."""
    try:
        spec = PackSpec.model_validate(document)
    except ValidationError as exc:
        raise RulesetError(_describe(source, document, exc)) from exc
    registry = load_criteria() if criteria is None else criteria

    seen: set[str] = set()
    for program in spec.programs:
        if program.id in seen:
            raise RulesetError(f"{source}: program {program.id!r} appears twice")
        seen.add(program.id)
    for field_name in ("decline_reasons", "override_reasons", "deferral_reasons"):
        codes = [r.code for r in getattr(spec, field_name) or []]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise RulesetError(f"{source}: {field_name}: code {', '.join(dupes)} appears twice")

    violent = {normalize_statute(s.statute): s.description for s in spec.offenses.violent}
    non_violent = {normalize_statute(s.statute): s.description for s in spec.offenses.non_violent}
    both = sorted(set(violent) & set(non_violent))
    if both:
        raise RulesetError(
            f"{source}: offenses: statute {', '.join(both)} is on both the violent and non-violent lists"
        )

    shared = tuple(
        _bind(f"{source}: shared requirement {i + 1}", req, registry) for i, req in enumerate(spec.shared_requires)
    )
    programs = tuple(
        Program(
            id=p.id,
            name=p.name,
            description=p.description,
            min_months=p.duration.min_months,
            max_months=p.duration.max_months,
            requires=tuple(
                _bind(f"{source}: program {p.id!r}, requirement {i + 1}", req, registry)
                for i, req in enumerate(p.requires)
            ),
        )
        for p in spec.programs
    )
    return Ruleset(
        agency=spec.agency,
        name=spec.name,
        version=spec.version,
        content_hash=content_hash(document),
        shared_requires=shared,
        programs=programs,
        offenses=OffenseLists(violent=violent, non_violent=non_violent),
        decline_reasons={r.code: r.label for r in spec.decline_reasons},
        override_reasons={r.code: r.label for r in spec.override_reasons},
        deferral_reasons=({r.code: r.label for r in spec.deferral_reasons} if spec.deferral_reasons
                          else dict(DEFAULT_DEFERRAL_REASONS)),
    )


def _bind(where: str, spec: RequirementSpec, registry: Mapping[str, AnyCriterion]) -> Requirement:
    plugin_class = registry.get(spec.criterion)
    if plugin_class is None:
        known = ", ".join(sorted(registry))
        raise RulesetError(f"{where}: unknown criterion {spec.criterion!r} (known: {known})")
    try:
        params = plugin_class.Params.model_validate(spec.params)
    except ValidationError as exc:
        problems = "; ".join(
            (f"param {'.'.join(str(p) for p in err['loc'])!r}: " if err["loc"] else "params: ") + err["msg"]
            for err in exc.errors()
        )
        raise RulesetError(f"{where} ({spec.criterion}): {problems}") from exc
    return Requirement(criterion=spec.criterion, plugin=plugin_class(), params=params)


def _describe(source: str, document: Mapping[str, Any], exc: ValidationError) -> str:
    """Turn pydantic's locations into pack terms: programs[2] becomes program 'aged-history'."""
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "pack"
        if len(loc) >= 2 and loc[0] == "programs" and isinstance(loc[1], int):
            programs = document.get("programs")
            label = f"#{loc[1] + 1}"
            if isinstance(programs, list) and loc[1] < len(programs) and isinstance(programs[loc[1]], dict):
                label = repr(programs[loc[1]].get("id", label))
            where = f"program {label}" + ("." + ".".join(str(p) for p in loc[2:]) if loc[2:] else "")
        message = err["msg"]
        if loc == ["version"] and err["type"] == "string_type":
            message += ' (quote it in YAML: version: "2026.1")'
        problems.append(f"{where}: {message}")
    return f"{source}: " + "; ".join(problems)
