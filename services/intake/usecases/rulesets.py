"""Ruleset packs: the bundled pack of an agency, installing a pack, the pack a screening used, and the programs.

Plain functions `(session, ...)`: they change rows in the caller's session (and hand events to `emit`, the
outbox), so the caller commits state, events and audit rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.intake.domain.ruleset import (
    Ruleset,
    RulesetError,
    bundled_pack_text,
    parse_ruleset,
    ruleset_from_mapping,
)
from services.intake.models import (
    Program,
    RulesetRow,
)
from services.intake.schemas import ProgramOut


class NoRulesetConfigured(Exception):
    """The agency has no ruleset pack: nothing to screen against."""


class InvalidRuleset(Exception):
    """A pack cannot be installed (invalid, another agency's, or a version reused with other content)."""


class RulesetVersionTaken(Exception):
    """This version of the agency's pack is already installed with different content: bump `version`."""


class RulesetVersionMissing(Exception):
    """The pack version a screening (or a replay) names is not installed: nothing is decided under another."""


# Parsed packs by content hash (the hash covers the whole pack, agency included), and bundled packs by agency.
_PARSED: dict[str, Ruleset] = {}


_BUNDLED: dict[str, Ruleset | None] = {}


def bundled_ruleset(agency: str) -> Ruleset | None:
    if agency not in _BUNDLED:
        try:
            _BUNDLED[agency] = parse_ruleset(bundled_pack_text(agency), source=f"packs/{agency}.yaml")
        except RulesetError:
            _BUNDLED[agency] = None
    return _BUNDLED[agency]


def _installed(session: Session, row_id: int, content_hash: str, agency: str) -> Ruleset:
    ruleset = _PARSED.get(content_hash)
    if ruleset is None:
        pack = session.scalar(select(RulesetRow.pack).where(RulesetRow.id == row_id))
        ruleset = ruleset_from_mapping(pack or {}, source=f"ruleset of {agency}")
        _PARSED[content_hash] = ruleset
    return ruleset


def current_ruleset(session: Session, agency: str) -> tuple[Ruleset, str]:
    """The agency's newest installed pack, else the pack bundled under its slug; and which it was."""
    row = session.execute(
        select(RulesetRow.id, RulesetRow.content_hash)
        .where(RulesetRow.agency_id == agency)
        .order_by(RulesetRow.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return _installed(session, row.id, row.content_hash, agency), "installed"
    bundled = bundled_ruleset(agency)
    if bundled is None:
        raise NoRulesetConfigured(
            f"no ruleset configured for agency {agency!r}: an admin installs its pack with POST /v1/rulesets"
        )
    return bundled, "bundled"


def ruleset_for_screening(session: Session, agency: str, version: str, content_hash: str) -> Ruleset:
    """The exact pack a screening used (decisions are checked against the rules the screening applied)."""
    cached = _PARSED.get(content_hash)
    if cached is not None:
        return cached
    row = session.execute(
        select(RulesetRow.id, RulesetRow.content_hash).where(
            RulesetRow.agency_id == agency, RulesetRow.version == version, RulesetRow.content_hash == content_hash
        )
    ).first()
    if row is not None:
        return _installed(session, row.id, row.content_hash, agency)
    bundled = bundled_ruleset(agency)
    if bundled is not None and bundled.content_hash == content_hash:
        return bundled
    raise RulesetVersionMissing(
        f"the pack this screening used ({version}, {content_hash[:19]}…) is not installed for {agency}; "
        "screen the referral again under the current pack (POST .../rescreen) before deciding"
    )


def install_ruleset(session: Session, agency: str, document: dict[str, Any], actor: str,
                    now: dt.datetime) -> tuple[Ruleset, bool]:
    """Validate and store a new pack version; refresh the program table. Returns (ruleset, newly installed)."""
    try:
        ruleset = ruleset_from_mapping(document, source="pack")
    except RulesetError as exc:
        raise InvalidRuleset(str(exc)) from None
    if ruleset.agency != agency:
        raise InvalidRuleset(f"pack: agency is {ruleset.agency!r}, but you act for {agency!r}")
    existing = session.execute(
        select(RulesetRow.content_hash).where(RulesetRow.agency_id == agency, RulesetRow.version == ruleset.version)
    ).first()
    if existing is not None:
        if existing.content_hash != ruleset.content_hash:
            raise RulesetVersionTaken(
                f"version {ruleset.version} of {agency}'s pack is installed with other content; bump `version`"
            )
        return ruleset, False
    session.add(RulesetRow(agency_id=agency, version=ruleset.version, content_hash=ruleset.content_hash,
                           pack=document, installed_at=now, installed_by=actor))
    sync_programs(session, ruleset)
    _PARSED[ruleset.content_hash] = ruleset
    return ruleset, True


def sync_programs(session: Session, ruleset: Ruleset) -> None:
    """The program table mirrors the agency's current pack (GET /v1/programs)."""
    existing = {p.slug: p for p in session.scalars(select(Program).where(Program.agency_id == ruleset.agency))}
    for spec in ruleset.programs:
        program = existing.pop(spec.id, None) or Program(agency_id=ruleset.agency, slug=spec.id)
        program.name, program.description = spec.name, spec.description
        program.min_months, program.max_months = spec.min_months, spec.max_months
        program.ruleset_version = ruleset.version
        session.add(program)
    if existing:
        session.execute(delete(Program).where(Program.agency_id == ruleset.agency,
                                              Program.slug.in_(list(existing))))


def list_programs(session: Session, agency: str) -> list[ProgramOut]:
    """The agency's installed programs; an agency screening under its bundled pack has no rows: the pack's."""
    programs = session.scalars(select(Program).where(Program.agency_id == agency).order_by(Program.slug)).all()
    if not programs:
        bundled = bundled_ruleset(agency)
        if bundled is not None:
            return [ProgramOut(slug=p.id, name=p.name, description=p.description, min_months=p.min_months,
                               max_months=p.max_months, ruleset_version=bundled.version)
                    for p in sorted(bundled.programs, key=lambda p: p.id)]
    return [ProgramOut.model_validate(program) for program in programs]
