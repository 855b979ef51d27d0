"""New referrals: one submitted through the API, a batch, or an import; each screened under the agency's pack.

Plain functions `(session, ...)`: they change rows in the caller's session (and hand events to `emit`, the
outbox), so the caller commits state, events and audit rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.domain.decisions import ReferralStatus
from services.intake.domain.duplicates import case_key, person_key
from services.intake.domain.referral import Referral
from services.intake.domain.ruleset import (
    Ruleset,
)
from services.intake.domain.screening import Screening, screen
from services.intake.models import (
    ChargeRow,
    DefendantRow,
    HistoryRow,
    ReferralRow,
    ScreeningRow,
)
from services.intake.schemas import (
    BatchItemResult,
    BatchOut,
    ReferralSubmission,
)
from services.intake.usecases import review as queue
from shared.bulk import RawJson, write_rows
from shared.http.problems import validation_errors

# Yield to the eventlet hub this often while screening a batch (time.sleep(0) is cooperative when patched).
YIELD_EVERY = 50


class ExternalIdTaken(Exception):
    """Another referral of the agency already carries this external_id."""

    def __init__(self, message: str, referral_id: str) -> None:
        super().__init__(message)
        self.problem_extra = {"existing_id": referral_id}


def natural_key(referral: Referral) -> str:
    return f"nat:{case_key(referral.case_number)}|{referral.defendant.date_of_birth.isoformat()}"


def import_key(submission: ReferralSubmission) -> str:
    """What identifies an item across batch re-runs: the sender's external_id, else case number + DOB."""
    return f"ext:{submission.external_id}" if submission.external_id else natural_key(submission)


def eligible_column(screening: Screening) -> str:
    return "," + "".join(f"{p},"for p in screening.eligible_programs)


@dataclass(frozen=True)
class StoredRows:
    """The rows `store_screened` wrote for one referral (its screening's id is the database's)."""

    referral: dict[str, Any]
    defendant: dict[str, Any]
    charges: list[dict[str, Any]]
    history: dict[str, Any]
    screening: dict[str, Any]


@dataclass(frozen=True)
class Created:
    id: str
    screening: Screening
    stored: StoredRows | None = None


@dataclass(frozen=True)
class Screened:
    """A valid submission, screened, with its keys: what storing it needs, computed before any transaction."""

    submission: ReferralSubmission
    import_key: str | None
    screening: Screening
    person_key: str
    case_key: str


def screen_submissions(items: Sequence[tuple[ReferralSubmission, str | None]], ruleset: Ruleset,
                       today: dt.date) -> list[Screened]:
    """Screen every submission (pure: no database), yielding to other greenlets now and then."""
    out = []
    for n, (submission, key) in enumerate(items):
        if n and n % YIELD_EVERY == 0:
            time.sleep(0)  # let other greenlets (heartbeats, other requests) run during a long batch
        person = submission.defendant
        out.append(Screened(submission, key, screen(submission, ruleset, today),
                            person_key(person.first_name, person.last_name, person.date_of_birth),
                            case_key(submission.case_number)))
    return out


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
    """Screen and store referrals (with their import keys) in bulk: one INSERT per table."""
    return store_screened(session, agency, screen_submissions(items, ruleset, today), actor, now=now)


def store_screened(session: Session, agency: str, items: Sequence[Screened], actor: str, *,
                   now: dt.datetime) -> list[Created]:
    """Store screened referrals in bulk: one INSERT per table (shared.bulk), rows built as plain dicts."""
    referrals: list[dict[str, Any]] = []
    defendants: list[dict[str, Any]] = []
    charges: list[dict[str, Any]] = []
    histories: list[dict[str, Any]] = []
    screenings: list[dict[str, Any]] = []
    created: list[Created] = []
    # Possible duplicates go to the review queue: an earlier referral, or another item of this batch, with the
    # same person (name and date of birth) or case number.
    known_persons, known_cases = queue.possible_duplicate_keys(session, agency, [i.person_key for i in items],
                                                               [i.case_key for i in items])
    person_counts: dict[str, int] = {}
    case_counts: dict[str, int] = {}
    for item in items:
        person_counts[item.person_key] = person_counts.get(item.person_key, 0) + 1
        case_counts[item.case_key] = case_counts.get(item.case_key, 0) + 1
    for item in items:
        submission, result, person_of, case_of = item.submission, item.screening, item.person_key, item.case_key
        referral_id = str(uuid.uuid4())
        person = submission.defendant
        duplicate = (person_of in known_persons or case_of in known_cases or person_counts[person_of] > 1
                     or case_counts[case_of] > 1)
        referrals.append({
            **queue.review_columns(result, possible_duplicate=duplicate, now=now),
            "id": referral_id, "agency_id": agency, "source": submission.source,
            "case_number": submission.case_number, "case_key": case_of,
            "person_key": person_of,
            "external_id": submission.external_id, "import_key": item.import_key,
            "offense_date": submission.offense_date,
            "status": ReferralStatus.SCREENED.value, "version": 1, "recommendation": result.recommendation.value,
            "eligible_programs": eligible_column(result), "program": None, "deferred_until": None,
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
        charged = [
            {
                "referral_id": referral_id, "position": i, "statute": c.statute, "description": c.description,
                "offense_class": c.offense_class.value, "offense_date": c.offense_date, "violent": c.violent,
            }
            for i, c in enumerate(submission.charges)
        ]
        charges.extend(charged)
        history = submission.history
        histories.append({
            "referral_id": referral_id,
            "convictions": [c.model_dump(mode="json") for c in history.convictions],
            "prior_diversions": [d.model_dump(mode="json") for d in history.prior_diversions],
            "pending_cases": history.pending_cases,
        })
        screenings.append(screening_row_values(referral_id, agency, result, "submitted", actor, now, raw=True))
        created.append(Created(referral_id, result, StoredRows(referrals[-1], defendants[-1], charged,
                                                               histories[-1], screenings[-1])))
    if referrals:
        # One INSERT per table (shared.bulk), every row with the same keys: through the ORM's bulk path, rows
        # with and without an optional value (an email, an external_id) split into one INSERT per key set.
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


@dataclass(frozen=True)
class PreparedBatch:
    """A batch validated and screened, before any query: the per-item outcome known so far."""

    invalid: dict[int, BatchItemResult]
    fresh: dict[str, tuple[int, Screened]]  # import key -> (position in the batch, the item to store)
    repeats: list[tuple[int, str]]  # (position, import key of the earlier item it repeats)
    first_index: int
    size: int


_BATCH_ADAPTER: TypeAdapter[list[ReferralSubmission]] = TypeAdapter(list[ReferralSubmission])


def prepare_batch(items: Sequence[Any], ruleset: Ruleset, *, today: dt.date, first_index: int = 0) -> PreparedBatch:
    """Validate every item on its own and screen the valid ones (no database: outside any transaction).

    An item repeated within the batch (same import key) is screened once.
    """
    invalid: dict[int, BatchItemResult] = {}
    valid: list[tuple[int, ReferralSubmission]] = []
    try:
        # The whole batch in one validator call; any invalid item and every item is validated on its own.
        valid = list(enumerate(_BATCH_ADAPTER.validate_python(items)))
    except ValidationError:
        for i, raw in enumerate(items):
            try:
                submission = raw if isinstance(raw, ReferralSubmission) else ReferralSubmission.model_validate(raw)
                valid.append((i, submission))
            except ValidationError as exc:
                errors = validation_errors(exc.errors(include_url=False, include_input=False))
                invalid[i] = BatchItemResult.model_validate({"index": first_index + i, "status": "invalid",
                                                             "errors": errors})
    unique: dict[str, tuple[int, ReferralSubmission]] = {}
    repeats: list[tuple[int, str]] = []
    for i, submission in valid:
        key = import_key(submission)
        if key in unique:
            repeats.append((i, key))
        else:
            unique[key] = (i, submission)
    screened = screen_submissions([(sub, key) for key, (_, sub) in unique.items()], ruleset, today)
    fresh = {key: (i, item) for (key, (i, _)), item in zip(unique.items(), screened, strict=True)}
    return PreparedBatch(invalid, fresh, repeats, first_index, len(items))


def store_batch(session: Session, agency: str, prepared: PreparedBatch, actor: str, *,
                now: dt.datetime) -> tuple[BatchOut, list[Created]]:
    """Skip the items already stored (by import key) and store the rest; the per-item results in order."""
    first_index = prepared.first_index
    results: list[BatchItemResult | None] = [None] * prepared.size
    for i, invalid in prepared.invalid.items():
        results[i] = invalid
    known = existing_ids(session, agency, list(prepared.fresh))
    to_create = [(key, item) for key, (_, item) in prepared.fresh.items() if key not in known]
    created = store_screened(session, agency, [item for _, item in to_create], actor, now=now)
    ids = dict(known)
    for (key, _), made in zip(to_create, created, strict=True):
        ids[key] = made.id
    counts = {"created": 0, "existing": 0, "invalid": len(prepared.invalid)}
    for key, (i, _) in prepared.fresh.items():
        status = "existing" if key in known else "created"
        counts[status] += 1
        results[i] = BatchItemResult(index=first_index + i, status=status, id=ids[key])
    for i, key in prepared.repeats:
        counts["existing"] += 1
        results[i] = BatchItemResult(index=first_index + i, status="existing", id=ids[key])
    return BatchOut(results=[r for r in results if r is not None], **counts), created


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
    prepared = prepare_batch(items, ruleset, today=today, first_index=first_index)
    return store_batch(session, agency, prepared, actor, now=now)


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
