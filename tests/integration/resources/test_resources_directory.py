# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""The directory in the database: HSDS import/export through the CLI, search on PostgreSQL and SQLite FTS5,
listing freshness and partner edits."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from resources_support import resources  # noqa: F401 - fixture

from services.resources import search
from services.resources.cli import directory
from services.resources.demo import load_demo
from services.resources.directory import SEED_PATH, HsdsJsonImporter, load_seed_directory, validate_hsds
from services.resources.directory.needs import NEED_LABELS, NEED_TAXONOMY_ID, need_term_id, stable_id
from shared import migrations
from shared.db import make_engine, session_scope
from tests.conftest import create_database, drop_database, make_token

ST_PATRICK = str(stable_id("organization", "St. Patrick Center"))
PLACES = str(stable_id("organization", "Places For People"))
HOUSING = str(stable_id("service", "St. Patrick Center", "Housing"))
CSV_FIXTURE = Path(__file__).resolve().parents[2] / "unit" / "resources" / "fixtures" / "hsds-csv"


@pytest.fixture
def own_database():
    name = f"diversion_test_res_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    migrations.upgrade("resources", url)
    yield url
    drop_database(name)


def cli(url: str, *args: str):
    result = CliRunner().invoke(directory, list(args), env={"DIVERSION_RESOURCES_DATABASE_URL": url},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_seed_directory_round_trips_through_the_database_and_exports_valid_hsds(own_database, tmp_path):
    first = cli(own_database, "import", "--format", "hsds_json", str(SEED_PATH))
    assert "organizations: 10 new" in first.output
    again = cli(own_database, "import", "--format", "hsds_json", str(SEED_PATH))
    assert " new, " in again.output and "organizations: 0 new, 0 updated, 10 unchanged" in again.output
    assert all(f"{table}: 0 new" in again.output for table in ("services", "phones", "attributes"))
    exported = tmp_path / "export.json"
    cli(own_database, "export", str(exported))
    documents = json.loads(exported.read_text())
    assert all(validate_hsds("organization", doc) == [] for doc in documents)
    assert HsdsJsonImporter().load(exported).directory.normalized() == load_seed_directory().directory.normalized()


def test_csv_import_reports_rejected_records_and_stores_the_rest_once(own_database):
    first = cli(own_database, "import", "--format", "csv", str(CSV_FIXTURE))
    assert "Stored:" in first.output
    again = cli(own_database, "import", "--format", "csv", str(CSV_FIXTURE))
    assert "0 new" in again.output and "1 new" not in again.output


def organization_with_hours_and_place(name: str) -> dict:
    org_id, svc_id, loc_id = (str(uuid.uuid4()) for _ in range(3))
    return {
        "id": org_id, "name": name, "description": "test organization",
        "locations": [{"id": loc_id, "location_type": "physical", "latitude": 38.6270, "longitude": -90.1994,
                       "addresses": [{"id": str(uuid.uuid4()), "address_1": "1 Test St", "city": "St. Louis",
                                      "state_province": "MO", "postal_code": "63101", "country": "US",
                                      "address_type": "physical"}]}],
        "services": [{
            "id": svc_id, "name": f"{name} drop-in shelter", "status": "active",
            "description": "Overnight emergency shelter beds",
            "schedules": [{"id": str(uuid.uuid4()), "freq": "WEEKLY", "byday": "MO,TU,WE,TH,FR",
                           "opens_at": "09:00", "closes_at": "17:00"}],
            "service_at_locations": [{"id": str(uuid.uuid4()), "location_id": loc_id}],
            "attributes": [{"id": str(uuid.uuid4()), "link_type": "need_category",
                            "taxonomy_term": {"id": str(need_term_id("housing")), "code": "housing",
                                              "name": "Housing", "description": "Shelter, housing search and "
                                              "housing stability.", "taxonomy": "diversion-needs",
                                              "taxonomy_id": str(NEED_TAXONOMY_ID)}}],
        }],
    }


def import_documents(url: str, documents: list[dict]) -> None:
    from services.resources.store import save_directory

    result = HsdsJsonImporter().load_documents(documents)
    assert result.ok, result.issues
    engine = make_engine(url)
    with session_scope(engine) as session:
        save_directory(session, result.directory)
    engine.dispose()


def names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [(hit["organization"]["name"]) for hit in response.json()["items"]]


def test_search_by_need_text_organization_open_now_and_distance_on_postgresql(resources):
    api = resources.start(casework=False)
    token = make_token("stl-cao", ("case_manager",))
    assert "St. Patrick Center" in names(api.get("/v1/services?need=housing", token=token))
    assert "Places For People" in names(api.get("/v1/services?need=substance_use", token=token))
    assert names(api.get("/v1/services?q=housing", token=token))[0] == "St. Patrick Center"
    assert set(names(api.get(f"/v1/services?organization_id={PLACES}", token=token))) == {"Places For People"}
    tag = f"Shelter{uuid.uuid4().hex[:6]}"
    import_documents(resources.database_url, [organization_with_hours_and_place(tag)])
    monday_noon, sunday = "2026-03-02T12:00:00-06:00", "2026-03-01T12:00:00-06:00"
    assert names(api.get(f"/v1/services?q={tag}&open_now=true&at={monday_noon.replace('+', '%2B')}",
                         token=token)) == [tag]
    assert names(api.get(f"/v1/services?q={tag}&open_now=true&at={sunday}", token=token)) == []
    near = api.get(f"/v1/services?q={tag}&lat=38.63&lon=-90.20&radius_km=2", token=token).json()["items"]
    assert [h["organization"]["name"] for h in near] == [tag] and near[0]["distance_km"] < 1
    assert names(api.get(f"/v1/services?q={tag}&lat=39.10&lon=-94.58&radius_km=20", token=token)) == []


def test_search_pages_are_bounded_and_resume_with_the_cursor(resources):
    api = resources.start(casework=False)
    token = make_token("stl-cao", ("screener",))
    seen, cursor = [], None
    while True:
        page = api.get("/v1/services?limit=5" + (f"&cursor={cursor}" if cursor else ""), token=token).json()
        assert len(page["items"]) <= 5
        seen += [h["id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 18


def need_attribute(slug: str) -> dict:
    label, description = NEED_LABELS[slug]
    return {"id": str(uuid.uuid4()), "link_type": "need_category",
            "taxonomy_term": {"id": str(need_term_id(slug)), "code": slug, "name": label,
                              "description": description, "taxonomy": "diversion-needs",
                              "taxonomy_id": str(NEED_TAXONOMY_ID)}}


def organization_with_services(name: str, services: list[tuple[str, str, list[str]]]) -> dict:
    """An organization whose services are (name, description, need slugs)."""
    return {
        "id": str(uuid.uuid4()), "name": name, "description": "test organization",
        "services": [{"id": str(uuid.uuid4()), "name": service, "status": "active", "description": description,
                      "attributes": [need_attribute(slug) for slug in needs]}
                     for service, description, needs in services],
    }


@pytest.fixture
def few_text_candidates(monkeypatch):
    """Free-text ranking bounded at 2 + 2 candidates, so a handful of services shows the bound."""
    monkeypatch.setattr(search, "TEXT_CANDIDATES", 2)
    search._statement.cache_clear()  # statements are built once per shape, with the bound in them
    yield
    search._statement.cache_clear()


def all_pages(url: str, params: search.SearchParams) -> list[search.Hit]:
    engine = make_engine(url)
    hits: list[search.Hit] = []
    with session_scope(engine) as session:
        while True:
            page, more = search.search_services(session, params)
            hits += page
            if not more:
                break
            params = dataclasses.replace(params, offset=params.offset + params.limit)
    engine.dispose()
    return hits


def test_search_hits_carry_every_need_category_of_the_service(own_database):
    tag = f"Needs{uuid.uuid4().hex[:6]}"
    import_documents(own_database, [organization_with_services(
        tag, [(f"{tag} tenant help", "Eviction defense and rent help", ["legal", "housing"])])])
    [hit] = all_pages(own_database, search.SearchParams(text=tag))
    assert hit.needs == ["housing", "legal"] and hit.organization_name == tag and hit.distance_km is None
    assert [h.name for h in all_pages(own_database, search.SearchParams(text=tag, need="legal"))] == [hit.name]
    assert all_pages(own_database, search.SearchParams(text=tag, need="education")) == []


def test_broad_free_text_ranks_a_bounded_set_of_name_and_other_matches_on_postgresql(
        own_database, few_text_candidates):
    tag = f"Broad{uuid.uuid4().hex[:6]}"
    # imported one at a time, oldest first: the bound keeps the newest search rows of each kind
    for i in range(4):
        import_documents(own_database, [organization_with_services(f"Org {tag} name {i}", [
            (f"{tag} shelter {i}", "Overnight beds", ["housing"])])])
        import_documents(own_database, [organization_with_services(f"Org other {i} {uuid.uuid4().hex[:4]}", [
            (f"Shelter {i}", f"Overnight beds, ask for {tag}", ["housing"])])])
    hits = all_pages(own_database, search.SearchParams(text=tag, limit=1))
    assert len(hits) == len({h.service_id for h in hits}) == 4  # pages resume over the same candidates
    assert sorted(h.name for h in hits[:2]) == [f"{tag} shelter 2", f"{tag} shelter 3"]  # names rank first
    assert sorted(h.name for h in hits[2:]) == ["Shelter 2", "Shelter 3"]
    narrow = all_pages(own_database, search.SearchParams(text=f"{tag} 0"))  # few matches: all are ranked
    assert [h.name for h in narrow] == [f"{tag} shelter 0", "Shelter 0"]


@pytest.mark.sqlite
def test_search_on_the_embedded_sqlite_default_uses_fts5(resources, tmp_path):
    url = f"sqlite:///{tmp_path / 'resources.db'}"
    migrations.upgrade("resources", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        load_demo(session)
    engine.dispose()
    api = resources.start(casework=False, database_url=url)
    token = make_token("stl-cao", ("case_manager",))
    assert "St. Patrick Center" in names(api.get("/v1/services?need=housing", token=token))
    assert "Places For People" in names(api.get("/v1/services?need=substance_use", token=token))
    assert names(api.get("/v1/services?q=housing", token=token))[0] == "St. Patrick Center"
    assert "Places For People" in names(api.get("/v1/services?q=substance", token=token))
    assert names(api.get("/v1/services?q=%22%29%28*", token=token)) == []


def test_partner_edits_only_its_own_listing_with_if_match_and_sets_capacity(resources):
    api = resources.start(casework=False)
    own = make_token("stl-cao", ("partner",), org=ST_PATRICK)
    other = make_token("stl-cao", ("partner",), org=PLACES)
    read = api.get(f"/v1/services/{HOUSING}", token=own)
    assert read.status_code == 200 and read.json()["organization"]["name"] == "St. Patrick Center"
    etag = read.headers["ETag"]
    refused = api.request("PATCH", f"/v1/services/{HOUSING}", token=other, json={"capacity": "closed"},
                          headers={"If-Match": etag})
    assert refused.status_code == 403
    assert api.request("PATCH", f"/v1/services/{HOUSING}", token=own, json={"capacity": "waitlist"}).status_code \
        == 428
    changed = api.request("PATCH", f"/v1/services/{HOUSING}", token=own,
                          json={"capacity": "waitlist", "assured": True}, headers={"If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["capacity"] == "waitlist" and changed.json()["assured_date"]
    stale = api.request("PATCH", f"/v1/services/{HOUSING}", token=own, json={"capacity": "accepting"},
                        headers={"If-Match": etag})
    assert stale.status_code == 412
    restored = api.request("PATCH", f"/v1/services/{HOUSING}", token=own, json={"capacity": "accepting"},
                           headers={"If-Match": changed.headers["ETag"]})
    assert restored.status_code == 200


def test_stale_listings_report_lists_services_not_verified_in_n_days(resources):
    api = resources.start(casework=False)
    supervisor = make_token("stl-cao", ("supervisor",))
    report = api.get("/v1/reports/stale-listings?days=30&limit=200", token=supervisor).json()["items"]
    seed_services = {str(s.id) for s in load_seed_directory().directory.services}
    listed = {r["service_id"] for r in report}
    partner = make_token("stl-cao", ("partner",), org=PLACES)
    own = api.get("/v1/reports/stale-listings?days=30&limit=200", token=partner).json()["items"]
    assert {r["organization_id"] for r in own} <= {PLACES}
    assert (seed_services - {HOUSING}) <= listed | {r["service_id"] for r in own}


def test_hsds_read_endpoints_answer_for_the_seed(resources):
    api = resources.start(casework=False)
    token = make_token("stl-cao", ("screener",))
    organization = api.get(f"/v1/organizations/{ST_PATRICK}", token=token)
    assert organization.status_code == 200
    assert validate_hsds("organization", organization.json()) == []
    sals = api.get(f"/v1/service_at_locations?organization_id={ST_PATRICK}", token=token).json()["items"]
    assert {s["address"] for s in sals} == {"800 N. Tucker Blvd., St. Louis, MO 63101"}
    terms = api.get("/v1/taxonomy_terms?taxonomy=diversion-needs", token=token).json()["items"]
    assert {t["code"] for t in terms} >= {"housing", "substance_use"}
    assert api.get(f"/v1/organizations/{uuid.uuid4()}", token=token).status_code == 404
