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

from pydantic import ValidationError
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
