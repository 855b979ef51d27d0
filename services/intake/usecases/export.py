"""Bulk export of referrals, screenings, decisions and outcomes, for the agency's systems and for researchers.

Streamed: rows come from a server-side cursor in chunks of `CHUNK` and each chunk's charges and decisions
with one query each, so memory stays flat in the number of rows. Two variants:

- `identified`: the prosecution record as intake holds it (case number, the defendant's name and date of
  birth, charges, the last decision and the outcome). Free-text notes never leave.
- `deidentified` (research): no names, no case numbers, no contact details; the date of birth becomes the age
  band on the offense date; referral and case ids become keyed hashes (HMAC-SHA256 with the deployment's
  export key, so the same referral has the same key across exports but no one without the key can link it
  back); the day received stays, times are dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection

from services.intake.domain.referral import age_on
from services.intake.domain.report import age_band
from services.intake.models import ChargeRow, DecisionRow, DefendantRow, ReferralRow
from shared.records import unsealed

CHUNK = 1000
Variant = Literal["identified", "deidentified"]

IDENTIFIED_COLUMNS = (
    "referral_id", "external_id", "case_number", "source", "received_at", "status", "recommendation",
    "eligible_programs", "pending_review", "program", "decision", "decision_program", "decision_reason_code",
    "decided_at", "deferred_until", "disposition", "disposition_reason", "disposed_at", "case_id",
    "first_name", "last_name", "date_of_birth", "sex", "race", "ethnicity", "age_at_offense", "charges",
)
DEIDENTIFIED_COLUMNS = (
    "referral_key", "case_key", "source", "received_on", "status", "recommendation", "eligible_programs",
    "pending_review", "program", "decision", "decision_program", "decision_reason_code", "decided_on",
    "disposition", "disposition_reason", "sex", "race", "ethnicity", "age_band", "charges",
)


def columns(variant: Variant) -> tuple[str, ...]:
    return IDENTIFIED_COLUMNS if variant == "identified" else DEIDENTIFIED_COLUMNS


def keyed_hash(key: bytes, value: str | None) -> str | None:
    if value is None:
        return None
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _split(column: str | None) -> list[str]:
    return [part for part in (column or "").split(",") if part]


def _filters(agency: str, date_from: dt.date | None, date_to: dt.date | None, program: str | None) -> list[Any]:
    # Sealed referrals are left out (ADR 0083): the export's roles may not open them.
    conditions: list[Any] = [ReferralRow.agency_id == agency, unsealed(ReferralRow.id, agency, "referral")]
    if date_from:
        conditions.append(ReferralRow.received_at >= dt.datetime.combine(date_from, dt.time.min, tzinfo=dt.UTC))
    if date_to:
        conditions.append(ReferralRow.received_at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min,
                                                                        tzinfo=dt.UTC))
    if program:
        conditions.append((ReferralRow.program == program) | ReferralRow.eligible_programs.contains(f",{program},"))
    return conditions


def count(connection: Connection, agency: str, date_from: dt.date | None, date_to: dt.date | None,
          program: str | None) -> int:
    from sqlalchemy import func

    return int(connection.execute(select(func.count()).select_from(ReferralRow).where(
        *_filters(agency, date_from, date_to, program))).scalar_one())


def records(connection: Connection, agency: str, *, variant: Variant, key: bytes, date_from: dt.date | None = None,
            date_to: dt.date | None = None, program: str | None = None) -> Iterator[dict[str, Any]]:
    """One flat record per referral, oldest first, read through a server-side cursor."""
    statement = (
        select(ReferralRow.id, ReferralRow.external_id, ReferralRow.case_number, ReferralRow.source,
               ReferralRow.received_at, ReferralRow.status, ReferralRow.recommendation, ReferralRow.eligible_programs,
               ReferralRow.pending_programs, ReferralRow.program, ReferralRow.deferred_until, ReferralRow.disposition,
               ReferralRow.disposition_reason, ReferralRow.disposed_at, ReferralRow.case_id, ReferralRow.offense_date,
               DefendantRow.first_name, DefendantRow.last_name, DefendantRow.date_of_birth, DefendantRow.sex,
               DefendantRow.race, DefendantRow.ethnicity)
        .join(DefendantRow, DefendantRow.referral_id == ReferralRow.id)
        .where(*_filters(agency, date_from, date_to, program))
        .order_by(ReferralRow.received_at, ReferralRow.id)
    )
    result = connection.execution_options(stream_results=True, yield_per=CHUNK).execute(statement)
    for chunk in result.partitions(CHUNK):
        ids = [row.id for row in chunk]
        charges: dict[str, list[str]] = {}
        for charge in connection.execute(
            select(ChargeRow.referral_id, ChargeRow.statute, ChargeRow.offense_class, ChargeRow.offense_date)
            .where(ChargeRow.referral_id.in_(ids)).order_by(ChargeRow.referral_id, ChargeRow.position)
        ):
            text = f"{charge.statute}:{charge.offense_class}"
            if variant == "identified":
                text += f":{charge.offense_date.isoformat()}"
            charges.setdefault(charge.referral_id, []).append(text)
        decisions: dict[str, Any] = {}
        for decision in connection.execute(
            select(DecisionRow.referral_id, DecisionRow.kind, DecisionRow.program, DecisionRow.reason_code,
                   DecisionRow.decided_at).where(DecisionRow.referral_id.in_(ids)).order_by(DecisionRow.id)
        ):
            decisions[decision.referral_id] = decision  # the last one wins
        for row in chunk:
            yield _record(row, charges.get(row.id, []), decisions.get(row.id), variant, key)


def _record(row: Any, charges: list[str], decision: Any, variant: Variant, key: bytes) -> dict[str, Any]:
    common = {
        "source": row.source, "status": row.status, "recommendation": row.recommendation,
        "eligible_programs": _split(row.eligible_programs), "pending_review": _split(row.pending_programs),
        "program": row.program, "decision": decision.kind if decision else None,
        "decision_program": decision.program if decision else None,
        "decision_reason_code": decision.reason_code if decision else None,
        "disposition": row.disposition, "disposition_reason": row.disposition_reason,
        "sex": row.sex, "race": row.race, "ethnicity": row.ethnicity, "charges": charges,
    }
    if variant == "deidentified":
        return {
            "referral_key": keyed_hash(key, row.id), "case_key": keyed_hash(key, row.case_id),
            "received_on": row.received_at.date().isoformat(),
            "decided_on": decision.decided_at.date().isoformat() if decision else None,
            "age_band": age_band(age_on(row.date_of_birth, row.offense_date)),
            **common,
        }
    return {
        "referral_id": row.id, "external_id": row.external_id, "case_number": row.case_number,
        "received_at": row.received_at.isoformat(),
        "decided_at": decision.decided_at.isoformat() if decision else None,
        "deferred_until": row.deferred_until.isoformat() if row.deferred_until else None,
        "disposed_at": row.disposed_at.isoformat() if row.disposed_at else None, "case_id": row.case_id,
        "first_name": row.first_name, "last_name": row.last_name, "date_of_birth": row.date_of_birth.isoformat(),
        "age_at_offense": age_on(row.date_of_birth, row.offense_date),
        **common,
    }


def as_ndjson(rows: Iterator[dict[str, Any]], variant: Variant) -> Iterator[bytes]:
    order = columns(variant)
    for row in rows:
        yield (json.dumps({name: row[name] for name in order}, ensure_ascii=False) + "\n").encode("utf-8")


def as_csv(rows: Iterator[dict[str, Any]], variant: Variant) -> Iterator[bytes]:
    order = columns(variant)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(order)
    for n, row in enumerate(rows, start=1):
        writer.writerow([_cell(row[name]) for name in order])
        if n % 200 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    text = str(value)
    # Names come from referrals: keep a spreadsheet from reading "=..." as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_key(jwt_secret: str | None, configured: str | None) -> bytes:
    """The keyed-hash key: the configured export key, else one derived from the deployment's signing secret."""
    if configured:
        return configured.encode("utf-8")
    if not jwt_secret:
        raise ValueError("no export key: set DIVERSION_INTAKE_EXPORT_KEY (or the suite's JWT secret)")
    return hmac.new(jwt_secret.encode("utf-8"), b"diversion research export v1", hashlib.sha256).digest()
