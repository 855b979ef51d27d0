"""Directory importers and the HSDS exporter: lossless round trips, and bad records reported, not fatal."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from services.resources.directory import (
    CsvImporter,
    HsdsJsonImporter,
    UnknownImporter,
    UnreadableSource,
    build_seed_directory,
    export_hsds,
    get_importer,
    import_cli,
    unreachable,
    validate_hsds,
)

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE_CSV = FIXTURES / "hsds-csv"


def _seed_documents() -> list[dict[str, Any]]:
    return export_hsds(build_seed_directory())


def test_seed_import_then_export_round_trip_loses_nothing() -> None:
    directory = build_seed_directory()

    exported = export_hsds(directory)
    reimported = HsdsJsonImporter().load(io.StringIO(json.dumps(exported)))

    assert reimported.issues == []
    assert reimported.directory.normalized() == directory.normalized()
    assert export_hsds(reimported.directory) == exported


def test_hsds_example_organization_round_trips_whole_through_the_directory() -> None:
    first = HsdsJsonImporter().load(FIXTURES / "organization_full.json")

    second = HsdsJsonImporter().load_documents(export_hsds(first.directory))

    assert first.errors == second.errors == []
    assert unreachable(first.directory) == {}
    assert second.directory.normalized() == first.directory.normalized()


def test_bad_records_are_reported_with_their_path_while_good_ones_load() -> None:
    documents = _seed_documents()
    broken = copy.deepcopy(documents)
    pfp = next(i for i, d in enumerate(broken) if d["name"] == "Places For People")
    broken[pfp]["locations"][0]["phones"][0]["extension"] = "two-nine-five"
    st_patrick = next(i for i, d in enumerate(broken) if d["name"] == "St. Patrick Center")
    broken[st_patrick]["services"][0]["status"] = "open"

    result = HsdsJsonImporter().load(io.StringIO(json.dumps(broken)))

    paths = {(e.index, e.kind, e.path) for e in result.errors}
    assert paths == {
        (pfp, "phone", f"$[{pfp}].locations[0].phones[0].extension"),
        (st_patrick, "service", f"$[{st_patrick}].services[0].status"),
    }
    good = build_seed_directory().counts()
    loaded = result.directory.counts()
    assert loaded["organizations"] == good["organizations"]
    # The broken phone belongs to the organization too, and its copy there is intact: it still loads.
    assert loaded["phones"] == good["phones"]
    # The rejected service takes its location links and need tags with it; nothing else is lost.
    assert loaded["services"] == good["services"] - 1
    assert loaded["attributes"] == good["attributes"] - 1
    assert loaded["service_at_locations"] == good["service_at_locations"] - 1


def test_a_record_that_is_not_an_object_is_reported_and_the_rest_load() -> None:
    documents: list[Any] = _seed_documents()
    documents.insert(1, "not an organization")

    result = HsdsJsonImporter().load_documents(documents, source_name="mixed.json")

    assert [(e.source, e.index, e.path) for e in result.errors] == [("mixed.json", 1, "$[1]")]
    assert len(result.directory.organizations) == len(documents) - 1


def test_a_service_whose_location_is_missing_is_reported_at_its_location_id() -> None:
    documents = _seed_documents()
    mission = next(d for d in documents if d["name"] == "Mission: St. Louis")
    ghost = "00000000-0000-4000-8000-000000000000"
    mission["services"][0]["service_at_locations"][0]["location_id"] = ghost

    result = HsdsJsonImporter().load_documents(documents)

    (error,) = result.errors
    assert error.kind == "service_at_location"
    assert error.path.endswith(".services[0].service_at_locations[0].location_id")
    assert ghost in error.message


def test_two_copies_of_one_id_that_disagree_are_a_conflict() -> None:
    documents = _seed_documents()
    bric = next(d for d in documents if d["name"] == "Bullet Related Injury Center")
    phone = copy.deepcopy(bric["locations"][0]["phones"][0])
    phone["number"] = "314-000-0000"
    bric.setdefault("phones", []).append(phone)

    result = HsdsJsonImporter().load_documents(documents)

    (error,) = result.errors
    assert error.path.endswith(f".phones[{len(bric['phones']) - 1}].number")
    assert [p.number for p in result.directory.phones if str(p.id) == phone["id"]] == ["314-624-0398"]


def test_json_that_is_not_a_directory_is_refused() -> None:
    with pytest.raises(UnreadableSource):
        HsdsJsonImporter().load(io.StringIO("{not json"))


def test_csv_importer_reads_the_hsds_example_tables() -> None:
    result = CsvImporter().load(EXAMPLE_CSV)

    directory = result.directory
    counts = directory.counts()
    assert counts["organizations"] == counts["services"] == counts["locations"] == 1
    assert (
        counts["phones"] == counts["addresses"] == counts["schedules"] == counts["service_at_locations"] == 1
    )
    (phone,) = directory.phones
    assert phone.extension == 100 and phone.type == "voice"
    (service,) = directory.services
    assert str(service.assured_date) == "2005-01-01"
    (schedule,) = directory.schedules
    assert (schedule.freq, str(schedule.opens_at), str(schedule.closes_at)) == (
        "WEEKLY",
        "10:00:00",
        "18:00:00",
    )
    # The example's attribute links to an entity called "link_entity": kept as given, with a warning.
    assert result.errors == []
    assert [(w.source, w.index, w.path) for w in result.warnings if "link_entity" in w.path] == [
        ("attributes.csv", 1, "$.link_entity")]
    assert counts["attributes"] == counts["funding"] == counts["programs"] == counts["metadata"] == 1
    for document in export_hsds(directory):
        assert validate_hsds("organization", document) == []


def test_csv_importer_reads_a_zip_of_the_tables() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in EXAMPLE_CSV.glob("*.csv"):
            archive.write(path, f"export/{path.name}")
    buffer.seek(0)

    from_zip = CsvImporter().load(buffer)

    assert from_zip.directory.normalized() == CsvImporter().load(EXAMPLE_CSV).directory.normalized()


def test_csv_bad_row_is_reported_with_file_row_and_field_while_good_rows_load(tmp_path: Path) -> None:
    (tmp_path / "organizations.csv").write_text(
        "id,name,description\nd9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610,Good Org,\nnot-a-uuid,Bad Org,\n",
        encoding="utf-8",
    )
    (tmp_path / "phones.csv").write_text(
        "id,organization_id,number,extension\n"
        "1554f2e2-a373-45db-a3fa-9fc48a61c15e,d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610,314-555-0100,12\n"
        "2554f2e2-a373-45db-a3fa-9fc48a61c15e,d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610,314-555-0101,ext 3\n",
        encoding="utf-8",
    )

    result = CsvImporter().load(tmp_path)

    assert sorted((e.source, e.index, e.path) for e in result.errors) == [
        ("organizations.csv", 2, "$.id"),
        ("phones.csv", 2, "$.extension"),
    ]
    assert [o.name for o in result.directory.organizations] == ["Good Org"]
    assert [(p.number, p.extension) for p in result.directory.phones] == [("314-555-0100", 12)]


def test_a_folder_without_hsds_tables_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnreadableSource):
        CsvImporter().load(tmp_path)


def test_importers_report_progress_up_to_the_total() -> None:
    calls: list[tuple[int, int]] = []

    CsvImporter().load(EXAMPLE_CSV, on_progress=lambda done, total: calls.append((done, total)))

    assert calls and calls[-1][0] == calls[-1][1] == 20
    assert [done for done, _ in calls] == list(range(1, 21))


def test_importers_are_installed_plugins() -> None:
    assert isinstance(get_importer("hsds_json"), HsdsJsonImporter)
    assert isinstance(get_importer("csv"), CsvImporter)
    with pytest.raises(UnknownImporter):
        get_importer("xlsx")


def test_import_cli_shows_the_rejected_records(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich sizes its table to the terminal

    result = import_cli("csv", EXAMPLE_CSV)

    out = capsys.readouterr().out
    assert result.errors == []
    assert "attributes.csv" in out and "unknown entity" in out
    assert "1 organizations" in out
