"""Bulk export against PostgreSQL: NDJSON and CSV streamed, the research variant without identifiers, the CLI,
and memory that does not grow with the number of rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tracemalloc
import uuid

from click.testing import CliRunner
from intake_api_support import decide, install_pack, referral_body
from sqlalchemy import create_engine, insert

from services.intake.cli import referrals
from services.intake.models import DefendantRow, ReferralRow
from services.intake.usecases import export
from tests.conftest import JWT_SECRET, make_token


def _submit(api, agency, n=3):
    response = api.post("/v1/referrals:batch", token=make_token(agency, ("screener",)),
                        json=[referral_body(first_name=f"Name{i}", dob=f"200{i + 3}-01-02") for i in range(n)])
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


def test_the_export_streams_ndjson_and_csv_and_the_research_variant_has_no_identifiers(start_service, agency):
    api = start_service("intake")
    install_pack(api, agency)
    ids = _submit(api, agency)
    assert decide(api, agency, ids[0], {"action": "accept", "program": "young-adult"}).status_code == 200
    supervisor = make_token(agency, ("supervisor",))

    response = api.get("/v1/exports/referrals", token=supervisor)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.headers.get("Transfer-Encoding") == "chunked"  # streamed, not built in memory first
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["referral_id"] for line in lines] == sorted(ids)  # received together: oldest first, then by id
    first = next(line for line in lines if line["referral_id"] == ids[0])
    assert (first["decision"], first["decision_program"], first["status"]) == ("accept", "young-adult", "accepted")
    assert first["first_name"] == "Name0" and first["case_number"] and first["charges"] == [
        "570.030:felony_d:2026-03-01"]

    as_csv = api.get("/v1/exports/referrals", token=supervisor, params={"format": "csv", "program": "young-adult"})
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert sorted(r["referral_id"] for r in rows) == sorted(ids)
    assert all(r["eligible_programs"].startswith("young-adult") for r in rows)

    auditor = make_token(agency, ("auditor",))
    assert api.get("/v1/exports/referrals", token=auditor).status_code == 403
    research = api.get("/v1/exports/referrals", token=auditor, params={"variant": "deidentified"})
    assert research.status_code == 200, research.text
    text = research.text
    for secret in (*ids, "Name0", "Brooks", "2003-01-02", first["case_number"], "dana@example.org", "555-0134"):
        assert secret not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert set(records[0]) == set(export.DEIDENTIFIED_COLUMNS)
    assert {r["age_band"] for r in records} == {"18-25"} and len(records[0]["referral_key"]) == 32
    again = [json.loads(line) for line in api.get("/v1/exports/referrals", token=auditor,
                                                  params={"variant": "deidentified"}).text.splitlines()]
    assert [r["referral_key"] for r in again] == [r["referral_key"] for r in records]  # stable keyed hashes
    audit = api.get("/v1/audit", token=auditor, params={"action": "referral.exported"}).json()["items"]
    assert sorted(a["detail"]["variant"] for a in audit) == ["deidentified", "deidentified", "identified",
                                                            "identified"]
    assert api.get("/v1/exports/referrals", token=supervisor,
                   params={"from": "2026-02-01", "to": "2026-01-01"}).status_code == 422


def test_the_export_cli_writes_a_file_with_progress(start_service, agency, pg_databases, tmp_path):
    api = start_service("intake")
    install_pack(api, agency)
    ids = _submit(api, agency, 4)
    out = tmp_path / "research.csv"
    env = {"DIVERSION_INTAKE_DATABASE_URL": pg_databases["intake"], "DIVERSION_JWT_SECRET": JWT_SECRET,
           "DIVERSION_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(referrals, ["export", "--agency", agency, "--format", "csv", "--deidentified",
                                            "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "4 referrals exported (deidentified, csv)" in result.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and not any(i in out.read_text() for i in ids)


def _bulk(url: str, agency: str, n: int) -> None:
    """Referrals inserted raw (the export reads rows; how they were screened does not matter here)."""
    now = dt.datetime.now(dt.UTC)
    engine = create_engine(url)
    with engine.begin() as connection:
        ids = [str(uuid.uuid4()) for _ in range(n)]
        connection.execute(insert(ReferralRow), [{
            "id": i, "agency_id": agency, "source": "police", "case_number": f"C{n}-{k}", "case_key": f"c{n}-{k}",
            "person_key": f"p{k}", "offense_date": dt.date(2026, 3, 1), "status": "screened", "version": 1,
            "recommendation": "eligible", "eligible_programs": ",young-adult,", "received_at": now,
            "received_by": "bulk", "updated_at": now, "review_reasons": "", "pending_programs": ",",
        } for k, i in enumerate(ids)])
        connection.execute(insert(DefendantRow), [{
            "referral_id": i, "agency_id": agency, "first_name": "A", "last_name": "B",
            "date_of_birth": dt.date(2000, 1, 1), "preferred_language": "en",
        } for i in ids])
    engine.dispose()


def _peak_bytes(url: str, agency: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tracemalloc.start()
            rows = 0
            for _ in export.as_ndjson(export.records(connection, agency, variant="identified", key=b"k" * 32),
                                      "identified"):
                rows += 1
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    finally:
        engine.dispose()
    return rows, peak


def test_export_memory_does_not_grow_with_the_number_of_rows(pg_databases):
    small, large = f"t-{uuid.uuid4().hex[:10]}", f"t-{uuid.uuid4().hex[:10]}"
    _bulk(pg_databases["intake"], small, 1_000)
    _bulk(pg_databases["intake"], large, 10_000)
    rows_small, peak_small = _peak_bytes(pg_databases["intake"], small)
    rows_large, peak_large = _peak_bytes(pg_databases["intake"], large)
    assert (rows_small, rows_large) == (1_000, 10_000)
    # Ten times the rows, about the same peak (one chunk of rows at a time): a list of all rows would be ~10x.
    assert peak_large < 2 * peak_small, (peak_small, peak_large)
