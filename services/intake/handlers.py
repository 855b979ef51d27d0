"""intake's service layer: plain functions `(session, ...)` between the domain core and the tables.

Each function changes rows in the caller's session (and hands events to `emit`, the outbox) so the caller
commits state, events and audit rows in one transaction. Nothing here knows about HTTP or nameko: the API,
the batch endpoint and the `diversion referrals import` CLI all call these.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from services.intake import review as queue
from services.intake.domain import decisions as rules
from services.intake.domain import review as review_rules
from services.intake.domain.decisions import Actor, Decision, DecisionKind, Disposition, ReferralStatus
from services.intake.domain.duplicates import case_key, person_key
from services.intake.domain.referral import Referral, age_on
from services.intake.domain.report import ReportRow, age_band
from services.intake.domain.ruleset import (
    Ruleset,
    RulesetError,
    bundled_pack_text,
    parse_ruleset,
    ruleset_from_mapping,
)
from services.intake.domain.screening import Screening, ScreeningStatus, screen
from services.intake.models import (
    ChargeRow,
    DecisionRow,
    DefendantRow,
    HistoryRow,
    Program,
    ReferralRow,
    RulesetRow,
    ScreeningRow,
)
from services.intake.schemas import (
    AcceptIn,
    BatchItemResult,
    BatchOut,
    DeclineIn,
    DeferIn,
    ReferralSubmission,
)
from shared.bulk import RawJson, write_rows
from shared.http.problems import validation_errors
from shared.messaging import CloudEvent, new_event
from shared.messaging.catalog import (
    ChargeRecord,
    Demographics,
    Participant,
    ReferralAccepted,
    ReferralDeclined,
    ReferralDeferred,
    ReferralDisposed,
)

log = logging.getLogger(__name__)

Emit = Callable[[CloudEvent], None]
# Yield to the eventlet hub this often while screening a batch (time.sleep(0) is cooperative when patched).
YIELD_EVERY = 50


class NoRulesetConfigured(Exception):
    """The agency has no ruleset pack: nothing to screen against."""


class InvalidRuleset(Exception):
    """A pack cannot be installed (invalid, another agency's, or a version reused with other content)."""


class RulesetVersionTaken(Exception):
    """This version of the agency's pack is already installed with different content: bump `version`."""


class RulesetVersionMissing(Exception):
    """The pack version a screening (or a replay) names is not installed: nothing is decided under another."""


class ExternalIdTaken(Exception):
    """Another referral of the agency already carries this external_id."""

    def __init__(self, message: str, referral_id: str) -> None:
        super().__init__(message)
        self.problem_extra = {"existing_id": referral_id}


# ------------------------------------------------------------------------------------------------ rulesets

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


# ------------------------------------------------------------------------------------------------ referrals


def natural_key(referral: Referral) -> str:
    return f"nat:{case_key(referral.case_number)}|{referral.defendant.date_of_birth.isoformat()}"


def import_key(submission: ReferralSubmission) -> str:
    """What identifies an item across batch re-runs: the sender's external_id, else case number + DOB."""
    return f"ext:{submission.external_id}" if submission.external_id else natural_key(submission)


def _eligible_column(screening: Screening) -> str:
    return "," + "".join(f"{p},"for p in screening.eligible_programs)


@dataclass(frozen=True)
class Created:
    id: str
    screening: Screening


def create_referrals(
    session: Session,
    agency: str,
    items: Sequence[tuple[ReferralSubmission, str | None]],
    ruleset: Ruleset,
    actor: str,
    *,
    today: dt.date,
    now: dt.datetime,
) -> list[Created]:
    """Screen and store referrals (with their import keys) in bulk: one executemany per table."""
    referrals: list[dict[str, Any]] = []
    defendants: list[dict[str, Any]] = []
    charges: list[dict[str, Any]] = []
    histories: list[dict[str, Any]] = []
    screenings: list[dict[str, Any]] = []
    created: list[Created] = []
    # Possible duplicates go to the review queue: an earlier referral, or another item of this batch, with the
    # same person (name and date of birth) or case number.
    keys = [(person_key(s.defendant.first_name, s.defendant.last_name, s.defendant.date_of_birth),
             case_key(s.case_number)) for s, _ in items]
    known_persons, known_cases = queue.possible_duplicate_keys(session, agency, [k[0] for k in keys],
                                                               [k[1] for k in keys])
    person_counts: dict[str, int] = {}
    case_counts: dict[str, int] = {}
    for person_of, case_of in keys:
        person_counts[person_of] = person_counts.get(person_of, 0) + 1
        case_counts[case_of] = case_counts.get(case_of, 0) + 1
    for n, (submission, key) in enumerate(items):
        if n and n % YIELD_EVERY == 0:
            time.sleep(0)  # let other greenlets (heartbeats, other requests) run during a long batch
        referral_id = str(uuid.uuid4())
        result = screen(submission, ruleset, today)
        person = submission.defendant
        person_of, case_of = keys[n]
        duplicate = (person_of in known_persons or case_of in known_cases or person_counts[person_of] > 1
                     or case_counts[case_of] > 1)
        referrals.append({
            **queue.review_columns(result, possible_duplicate=duplicate, now=now),
            "id": referral_id, "agency_id": agency, "source": submission.source,
            "case_number": submission.case_number, "case_key": case_of,
            "person_key": person_of,
            "external_id": submission.external_id, "import_key": key, "offense_date": submission.offense_date,
            "status": ReferralStatus.SCREENED.value, "version": 1, "recommendation": result.recommendation.value,
            "eligible_programs": _eligible_column(result), "program": None, "deferred_until": None,
            "disposition": None, "disposition_reason": None, "disposed_at": None, "case_id": None,
            "received_at": now, "received_by": actor, "updated_at": now,
        })
        defendants.append({
            "referral_id": referral_id, "agency_id": agency, "first_name": person.first_name,
            "last_name": person.last_name, "date_of_birth": person.date_of_birth, "sex": person.sex,
            "race": person.race, "ethnicity": person.ethnicity, "phone": person.phone,
            "email": str(person.email) if person.email else None,
            "address": person.address.model_dump(mode="json") if person.address else None,
            "preferred_language": person.preferred_language,
        })
        charges.extend(
            {
                "referral_id": referral_id, "position": i, "statute": c.statute, "description": c.description,
                "offense_class": c.offense_class.value, "offense_date": c.offense_date, "violent": c.violent,
            }
            for i, c in enumerate(submission.charges)
        )
        history = submission.history
        histories.append({
            "referral_id": referral_id,
            "convictions": [c.model_dump(mode="json") for c in history.convictions],
            "prior_diversions": [d.model_dump(mode="json") for d in history.prior_diversions],
            "pending_cases": history.pending_cases,
        })
        screenings.append(screening_row_values(referral_id, agency, result, "submitted", actor, now, raw=True))
        created.append(Created(referral_id, result))
    if referrals:
        # One multi-row INSERT per table (shared.bulk), every row with the same keys: through the ORM's bulk path,
        # rows with and without an optional value (an email, an external_id) split into one INSERT per key set.
        for model, rows in ((ReferralRow, referrals), (DefendantRow, defendants), (ChargeRow, charges),
                            (HistoryRow, histories), (ScreeningRow, screenings)):
            write_rows(session, model.__table__, rows)  # type: ignore[arg-type]
    return created


def screening_row_values(referral_id: str, agency: str, result: Screening, trigger: str, actor: str,
                         now: dt.datetime, *, raw: bool = False) -> dict[str, Any]:
    return {
        "referral_id": referral_id, "agency_id": agency, "ruleset_version": result.ruleset_version,
        "ruleset_hash": result.ruleset_hash, "screened_on": result.screened_on,
        "recommendation": result.recommendation.value,
        # Already serialized for the bulk path (shared.bulk stores it as it is); a dict for ORM inserts.
        "result": RawJson(result.model_dump_json()) if raw else result.model_dump(mode="json"),
        "trigger": trigger, "screened_at": now, "screened_by": actor,
    }


def submit_referral(session: Session, agency: str, submission: ReferralSubmission, ruleset: Ruleset, actor: str,
                    *, today: dt.date, now: dt.datetime) -> Created:
    """One referral from the API: refused if its external_id is taken, duplicates only flagged."""
    key = f"ext:{submission.external_id}" if submission.external_id else None
    if key is not None:
        taken = session.scalar(select(ReferralRow.id).where(ReferralRow.agency_id == agency,
                                                            ReferralRow.import_key == key))
        if taken is not None:
            raise ExternalIdTaken(f"a referral with external_id {submission.external_id!r} exists", taken)
    return create_referrals(session, agency, [(submission, key)], ruleset, actor, today=today, now=now)[0]


def import_batch(
    session: Session,
    agency: str,
    items: Sequence[Any],
    ruleset: Ruleset,
    actor: str,
    *,
    today: dt.date,
    now: dt.datetime,
    first_index: int = 0,
) -> tuple[BatchOut, list[Created]]:
    """Validate every item on its own, skip the ones already stored (by import key) and create the rest.

    An item repeated within the batch is created once; the repeats answer `existing` with the same id.
    """
    results: list[BatchItemResult | None] = [None] * len(items)
    fresh: dict[str, tuple[int, ReferralSubmission]] = {}
    repeats: list[tuple[int, str]] = []
    for i, raw in enumerate(items):
        index = first_index + i
        try:
            submission = ReferralSubmission.model_validate(raw)
        except ValidationError as exc:
            errors = validation_errors(exc.errors(include_url=False, include_input=False))
            results[i] = BatchItemResult.model_validate({"index": index, "status": "invalid", "errors": errors})
            continue
        key = import_key(submission)
        if key in fresh:
            repeats.append((i, key))
        else:
            fresh[key] = (i, submission)
    known = existing_ids(session, agency, list(fresh))
    to_create = [(sub, key) for key, (_, sub) in fresh.items() if key not in known]
    created = create_referrals(session, agency, to_create, ruleset, actor, today=today, now=now)
    ids = dict(known)
    for (_, key), made in zip(to_create, created, strict=True):
        ids[key] = made.id
    for key, (i, _) in fresh.items():
        status = "existing" if key in known else "created"
        results[i] = BatchItemResult(index=first_index + i, status=status, id=ids[key])
    for i, key in repeats:
        results[i] = BatchItemResult(index=first_index + i, status="existing", id=ids[key])
    final = [r for r in results if r is not None]
    counts = {s: sum(1 for r in final if r.status == s) for s in ("created", "existing", "invalid")}
    return BatchOut(results=final, **counts), created


def existing_ids(session: Session, agency: str, keys: Iterable[str]) -> dict[str, str]:
    """Import key -> id of the referral already stored under it (external id, or case number + DOB)."""
    keys = list(keys)
    found: dict[str, str] = {}
    if not keys:
        return found
    for row in session.execute(select(ReferralRow.import_key, ReferralRow.id).where(
            ReferralRow.agency_id == agency, ReferralRow.import_key.in_(keys))):
        found[row.import_key] = row.id
    # A natural key also matches a referral submitted one at a time (no import key) for the same case and DOB.
    natural = {k for k in keys if k.startswith("nat:") and k not in found}
    if natural:
        case_keys = {k[4:].rsplit("|", 1)[0] for k in natural}
        rows = session.execute(
            select(ReferralRow.id, ReferralRow.case_key, DefendantRow.date_of_birth)
            .join(DefendantRow, DefendantRow.referral_id == ReferralRow.id)
            .where(ReferralRow.agency_id == agency, ReferralRow.case_key.in_(case_keys))
            .order_by(ReferralRow.received_at)
        )
        for match in rows:
            key = f"nat:{match.case_key}|{match.date_of_birth.isoformat()}"
            if key in natural and key not in found:
                found[key] = match.id
    return found


def get_referral(session: Session, agency: str, referral_id: str, *, for_update: bool = False) -> ReferralRow | None:
    statement = select(ReferralRow).where(ReferralRow.agency_id == agency, ReferralRow.id == referral_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalar(statement)


def possible_duplicates(session: Session, row: ReferralRow) -> list[dict[str, Any]]:
    """Other referrals of the agency for the same person (normalized name + DOB) or the same case number."""
    others = session.execute(
        select(ReferralRow.id, ReferralRow.status, ReferralRow.person_key, ReferralRow.case_key)
        .where(ReferralRow.agency_id == row.agency_id, ReferralRow.id != row.id,
               or_(ReferralRow.person_key == row.person_key, ReferralRow.case_key == row.case_key))
        .order_by(ReferralRow.received_at, ReferralRow.id)
        .limit(50)
    )
    out = []
    for other in others:
        reasons = []
        if other.person_key == row.person_key:
            reasons.append("same_person")
        if other.case_key == row.case_key:
            reasons.append("same_case_number")
        out.append({"referral_id": other.id, "status": other.status, "reasons": reasons})
    return out


def rebuild_referral(session: Session, row: ReferralRow) -> Referral:
    """The domain referral from its stored parts (for a rescreen)."""
    person = session.get(DefendantRow, row.id)
    history = session.get(HistoryRow, row.id)
    charges = session.scalars(select(ChargeRow).where(ChargeRow.referral_id == row.id)
                              .order_by(ChargeRow.position)).all()
    assert person is not None and history is not None
    return Referral.model_validate({
        "source": row.source, "case_number": row.case_number,
        "defendant": _defendant_dict(person),
        "charges": [_charge_dict(c) for c in charges],
        "history": {"convictions": history.convictions, "prior_diversions": history.prior_diversions,
                    "pending_cases": history.pending_cases},
    })


def _defendant_dict(person: DefendantRow) -> dict[str, Any]:
    return {
        "first_name": person.first_name, "last_name": person.last_name, "date_of_birth": person.date_of_birth,
        "sex": person.sex, "race": person.race, "ethnicity": person.ethnicity, "phone": person.phone,
        "email": person.email, "address": person.address, "preferred_language": person.preferred_language,
    }


def _charge_dict(charge: ChargeRow) -> dict[str, Any]:
    return {"statute": charge.statute, "description": charge.description, "offense_class": charge.offense_class,
            "offense_date": charge.offense_date, "violent": charge.violent}


def referral_document(session: Session, row: ReferralRow) -> dict[str, Any]:
    """Everything GET /v1/referrals/<id> shows, as plain data for `ReferralOut`."""
    person = session.get(DefendantRow, row.id)
    history = session.get(HistoryRow, row.id)
    assert person is not None and history is not None
    charges = session.scalars(select(ChargeRow).where(ChargeRow.referral_id == row.id)
                              .order_by(ChargeRow.position)).all()
    screenings = session.scalars(select(ScreeningRow).where(ScreeningRow.referral_id == row.id)
                                 .order_by(ScreeningRow.id)).all()
    decisions = session.scalars(select(DecisionRow).where(DecisionRow.referral_id == row.id)
                                .order_by(DecisionRow.id)).all()
    screening_docs = [_screening_doc(s) for s in screenings]
    return {
        "id": row.id, "status": row.status, "version": row.version, "source": row.source,
        "case_number": row.case_number, "external_id": row.external_id, "received_at": row.received_at,
        "received_by": row.received_by, "defendant": _defendant_dict(person),
        "charges": [_charge_dict(c) for c in charges],
        "history": {"convictions": history.convictions, "prior_diversions": history.prior_diversions,
                    "pending_cases": history.pending_cases},
        "screening": screening_docs[-1], "screenings": screening_docs,
        "program": row.program, "deferred_until": row.deferred_until,
        "decisions": [
            {"action": d.kind, "program": d.program, "reason_code": d.reason_code, "note": d.note,
             "override": d.override, "deferred_until": d.deferred_until, "ruleset_version": d.ruleset_version,
             "decided_by": d.decided_by, "decided_at": d.decided_at}
            for d in decisions
        ],
        "disposition": row.disposition, "disposition_reason": row.disposition_reason,
        "disposed_at": row.disposed_at, "case_id": row.case_id,
        "possible_duplicates": possible_duplicates(session, row),
        **review_state(row),
        "judgements": queue.judgements_of(session, row.id),
    }


def review_state(row: ReferralRow) -> dict[str, Any]:
    """What the list and the read show of the queue: never an overall "eligible" hiding a pending program."""
    return {
        "pending_review": [p for p in row.pending_programs.split(",") if p],
        "review_reasons": [r.value for r in review_rules.parse_reasons(row.review_reasons)],
        "review_since": row.review_since,
        "eligible_on": row.eligible_on,
    }


def _screening_doc(row: ScreeningRow) -> dict[str, Any]:
    return {
        "id": row.id, "trigger": row.trigger, "ruleset_version": row.ruleset_version,
        "ruleset_hash": row.ruleset_hash, "screened_on": row.screened_on, "screened_at": row.screened_at,
        "screened_by": row.screened_by, "recommendation": row.recommendation,
        "programs": row.result.get("programs", []),
    }


def latest_screening(session: Session, referral_id: str) -> tuple[ScreeningRow, Screening]:
    row = session.scalar(select(ScreeningRow).where(ScreeningRow.referral_id == referral_id)
                         .order_by(ScreeningRow.id.desc()).limit(1))
    assert row is not None, "every referral is screened when it is stored"
    return row, Screening.model_validate(row.result)


# ------------------------------------------------------------------------------------------------ changes


def rescreen(session: Session, row: ReferralRow, ruleset: Ruleset, actor: str, *, today: dt.date,
             now: dt.datetime) -> Screening:
    """Screen again under the current pack; the earlier screenings stay as they were (append-only)."""
    status = ReferralStatus(row.status)
    if status not in (ReferralStatus.SCREENED, ReferralStatus.DEFERRED):
        raise rules.InvalidTransition(f"a {status} referral is decided; it cannot be screened again")
    result = screen(rebuild_referral(session, row), ruleset, today)
    session.execute(insert(ScreeningRow), [screening_row_values(row.id, row.agency_id, result, "rescreen", actor, now)])
    row.recommendation = result.recommendation.value
    row.eligible_programs = _eligible_column(result)
    queue.after_screening(row, result, now)
    row.version += 1
    row.updated_at = now
    return result


def decide(
    session: Session,
    emit: Emit,
    row: ReferralRow,
    body: AcceptIn | DeclineIn | DeferIn,
    actor: Actor,
    *,
    today: dt.date,
    now: dt.datetime,
) -> Decision:
    """Apply a decision to a locked referral row, record it, and publish accepted / declined."""
    status = ReferralStatus(row.status)
    screening_row, screening = latest_screening(session, row.id)
    decision: Decision
    if isinstance(body, AcceptIn):
        ruleset = ruleset_for_screening(session, row.agency_id, screening.ruleset_version, screening.ruleset_hash)
        decision = rules.accept(status=status, screening=screening, ruleset=ruleset, program=body.program,
                                actor=actor, note=body.note, override=body.override)
        row.program = decision.program
        row.deferred_until = None
    elif isinstance(body, DeclineIn):
        ruleset = current_ruleset(session, row.agency_id)[0]
        decision = rules.decline(status=status, ruleset=ruleset, reason_code=body.reason_code, actor=actor,
                                 note=body.note)
        row.deferred_until = None
    else:
        ruleset = current_ruleset(session, row.agency_id)[0]
        decision = rules.defer(status=status, ruleset=ruleset, until=body.until, reason_code=body.reason_code,
                               today=today, actor=actor, note=body.note)
        row.deferred_until = decision.deferred_until
    queue.after_decision(row, decision)
    row.status = decision.status.value
    row.version += 1
    row.updated_at = now
    session.add(DecisionRow(
        referral_id=row.id, agency_id=row.agency_id, kind=decision.kind.value, program=decision.program,
        reason_code=decision.reason_code, note=decision.note, override=decision.override,
        deferred_until=decision.deferred_until, screening_id=screening_row.id,
        ruleset_version=decision.ruleset_version, decided_by=decision.decided_by, decided_at=now,
    ))
    if decision.kind is DecisionKind.ACCEPT:
        assert decision.program is not None
        program = ruleset.program(decision.program)
        assert program is not None  # accept() checked it
        emit(new_event(accepted_event(session, row, decision.program, program.min_months, program.max_months,
                                      decision.decided_by, now), subject=row.id, tenantid=row.agency_id))
    elif decision.kind is DecisionKind.DECLINE:
        emit(new_event(ReferralDeclined(referral_id=row.id, case_number=row.case_number,
                                        reason=decision.reason_code or "", declined_at=now,
                                        decided_by=decision.decided_by),
                       subject=row.id, tenantid=row.agency_id))
    else:
        assert decision.deferred_until is not None and decision.reason_code is not None
        emit(new_event(ReferralDeferred(referral_id=row.id, case_number=row.case_number,
                                        reason_code=decision.reason_code, deferred_until=decision.deferred_until,
                                        deferred_at=now, decided_by=decision.decided_by),
                       subject=row.id, tenantid=row.agency_id))
    return decision


def accepted_event(session: Session, row: ReferralRow, program: str, min_months: int, max_months: int,
                   decided_by: str, now: dt.datetime) -> ReferralAccepted:
    person = session.get(DefendantRow, row.id)
    assert person is not None
    demographics = Demographics(
        sex=person.sex, race=person.race, ethnicity=person.ethnicity,
        age_at_referral=age_on(person.date_of_birth, row.received_at.date()),
    )
    participant = Participant(
        first_name=person.first_name, last_name=person.last_name, date_of_birth=person.date_of_birth,
        phone=person.phone, email=person.email, preferred_language=person.preferred_language,
        demographics=demographics,
    )
    return ReferralAccepted(
        referral_id=row.id, case_number=row.case_number, program=program, min_months=min_months,
        max_months=max_months, participant=participant, accepted_at=now, decided_by=decided_by,
    )


def record_disposition(session: Session, agency: str, referral_id: str, disposition: Disposition | str,
                       *, case_id: str, at: dt.datetime, reason: str | None = None,
                       emit: Emit | None = None) -> bool:
    """Close an accepted referral with its case's outcome. False (and a log line) when there is nothing to do.

    An unknown referral or one already closed cannot be fixed by retrying, so the event is not retried.
    """
    row = get_referral(session, agency, referral_id, for_update=True)
    if row is None:
        log.warning("disposition for unknown referral %s of %s ignored", referral_id, agency)
        return False
    try:
        checked = rules.dispose(ReferralStatus(row.status), disposition)
    except rules.DecisionError as exc:
        log.warning("disposition for referral %s ignored: %s", referral_id, exc)
        return False
    row.status = ReferralStatus.DISPOSED.value
    row.disposition = checked.value
    row.disposition_reason = reason
    row.disposed_at = at
    row.case_id = case_id
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    if emit is not None:
        emit(disposed_event(session, row, checked.value))
    return True


def disposed_event(session: Session, row: ReferralRow, disposition: str) -> CloudEvent:
    """`referral.disposed`: the prosecution record's fields, for the agency's own case management system."""
    charges = session.scalars(select(ChargeRow).where(ChargeRow.referral_id == row.id)
                              .order_by(ChargeRow.position)).all()
    data = ReferralDisposed(
        referral_id=row.id, case_number=row.case_number, case_id=row.case_id, program=row.program,
        disposition=disposition,  # checked by the domain before
        reason=row.disposition_reason, disposed_at=row.disposed_at or row.updated_at,
        charges=[ChargeRecord(statute=c.statute, description=c.description, offense_class=c.offense_class,
                              offense_date=c.offense_date) for c in charges],
    )
    return new_event(data, subject=row.id, tenantid=row.agency_id)


def record_case_opened(session: Session, agency: str, referral_id: str, case_id: str) -> bool:
    """casework opened the referral's case: intake keeps its id (before the disposition, not only with it)."""
    row = get_referral(session, agency, referral_id, for_update=True)
    if row is None:
        log.warning("case.opened for unknown referral %s of %s ignored", referral_id, agency)
        return False
    if row.case_id == case_id:
        return False
    row.case_id = case_id
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    return True


def record_withdrawal(session: Session, emit: Emit, agency: str, referral_id: str, *, case_id: str,
                      at: dt.datetime, reason: str | None) -> bool:
    """The referral's case was withdrawn: the referral shows withdrawn and the agency's system is told."""
    row = get_referral(session, agency, referral_id, for_update=True)
    if row is None:
        log.warning("case.withdrawn for unknown referral %s of %s ignored", referral_id, agency)
        return False
    try:
        row.status = rules.withdraw(ReferralStatus(row.status)).value
    except rules.DecisionError as exc:
        log.warning("withdrawal of referral %s ignored: %s", referral_id, exc)
        return False
    row.disposition_reason = (reason or "")[:40] or None
    row.disposed_at = at
    row.case_id = case_id
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    emit(disposed_event(session, row, "withdrawn"))
    return True


# ------------------------------------------------------------------------------------------------ reads


def list_referrals(session: Session, agency: str, *, status: str | None, program: str | None,
                   received_from: dt.date | None, received_to: dt.date | None,
                   after: tuple[dt.datetime, str] | None, limit: int) -> list[tuple[ReferralRow, DefendantRow]]:
    """Newest first, keyset-paginated on (received_at, id)."""
    statement = (
        select(ReferralRow, DefendantRow)
        .join(DefendantRow, DefendantRow.referral_id == ReferralRow.id)
        .where(ReferralRow.agency_id == agency)
    )
    if status:
        statement = statement.where(ReferralRow.status == status)
    if program:
        statement = statement.where(or_(
            ReferralRow.program == program,
            (ReferralRow.program.is_(None)) & ReferralRow.eligible_programs.contains(f",{program},"),
        ))
    if received_from:
        statement = statement.where(ReferralRow.received_at >= _day_start(received_from))
    if received_to:
        statement = statement.where(ReferralRow.received_at < _day_start(received_to + dt.timedelta(days=1)))
    if after is not None:
        at, last_id = after
        statement = statement.where(or_(ReferralRow.received_at < at,
                                        (ReferralRow.received_at == at) & (ReferralRow.id < last_id)))
    statement = statement.order_by(ReferralRow.received_at.desc(), ReferralRow.id.desc()).limit(limit)
    return [(r, d) for r, d in session.execute(statement).tuples()]


def list_review_queue(session: Session, agency: str, *, program: str | None,
                      after: tuple[dt.datetime, str] | None, limit: int) -> list[tuple[ReferralRow, DefendantRow]]:
    """The screening desk's queue: referrals waiting for a person's judgement or decision, oldest first."""
    statement = (
        select(ReferralRow, DefendantRow)
        .join(DefendantRow, DefendantRow.referral_id == ReferralRow.id)
        .where(ReferralRow.agency_id == agency, ReferralRow.review_since.is_not(None),
               ReferralRow.status == ReferralStatus.SCREENED.value)
    )
    if program:
        statement = statement.where(or_(ReferralRow.pending_programs.contains(f",{program},"),
                                        ReferralRow.eligible_programs.contains(f",{program},")))
    if after is not None:
        since, last_id = after
        statement = statement.where(or_(ReferralRow.review_since > since,
                                        (ReferralRow.review_since == since) & (ReferralRow.id > last_id)))
    statement = statement.order_by(ReferralRow.review_since, ReferralRow.id).limit(limit)
    return [(r, d) for r, d in session.execute(statement).tuples()]


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def report_rows(session: Session, agency: str, date_from: dt.date | None,
                date_to: dt.date | None) -> tuple[list[ReportRow], int]:
    """One row per (referral, screened program) from each referral's current screening; and the referral count."""
    latest = (
        select(func.max(ScreeningRow.id).label("id"))
        .where(ScreeningRow.agency_id == agency)
        .group_by(ScreeningRow.referral_id)
        .subquery()
    )
    statement = (
        select(ReferralRow.status, ReferralRow.program, ReferralRow.offense_date, DefendantRow.date_of_birth,
               DefendantRow.sex, DefendantRow.race, DefendantRow.ethnicity, ScreeningRow.result)
        .join(DefendantRow, DefendantRow.referral_id == ReferralRow.id)
        .join(ScreeningRow, ScreeningRow.referral_id == ReferralRow.id)
        .join(latest, latest.c.id == ScreeningRow.id)
        .where(ReferralRow.agency_id == agency)
    )
    if date_from:
        statement = statement.where(ReferralRow.received_at >= _day_start(date_from))
    if date_to:
        statement = statement.where(ReferralRow.received_at < _day_start(date_to + dt.timedelta(days=1)))
    rows: list[ReportRow] = []
    referrals = 0
    accepted_states = {ReferralStatus.ACCEPTED.value, ReferralStatus.DISPOSED.value, ReferralStatus.WITHDRAWN.value}
    for r in session.execute(statement):
        referrals += 1
        band = age_band(age_on(r.date_of_birth, r.offense_date))
        accepted = r.program if r.status in accepted_states else None
        for program in r.result.get("programs", []):
            rows.append(ReportRow(
                program=program["program"], race=r.race, ethnicity=r.ethnicity, sex=r.sex, age_band=band,
                screened_eligible=program["status"] == ScreeningStatus.ELIGIBLE.value,
                accepted=program["program"] == accepted,
            ))
    return rows, referrals
