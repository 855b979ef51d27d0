# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""Data-sharing profiles (ADR 0070): one per agency and partner organization decides what the partner gets,
through the API and in every partner-bound event alike; what can never leave cannot be named; a partner's
list shows a referral no consent covers any more as id and status only."""

from __future__ import annotations

import json

from resources_support import resources, wait_for  # noqa: F401 - fixture
from test_resources_referrals import PLACES, ST_PATRICK, SUBSTANCE, move, outbox_rows, refer

from shared.disclosure import DEFAULT_PROFILE, NOTICE_FIELD
from tests.conftest import make_token

ALWAYS = {"id", "status", "updated_at", "allowed_next", NOTICE_FIELD}


def test_without_a_stored_profile_the_partner_gets_the_safe_default(resources, agency):
    api = resources.start()
    ref = refer(resources, api, agency).json()
    partner = make_token(agency, ("partner",), org=ST_PATRICK)
    profile = api.get(f"/v1/sharing-profiles/{ST_PATRICK}", token=partner)
    assert profile.status_code == 200, profile.text
    assert profile.json()["source"] == "default" and set(profile.json()["fields"]) == set(DEFAULT_PROFILE.fields)
    seen = api.get(f"/v1/service-referrals/{ref['id']}", token=partner).json()
    assert set(seen) == ALWAYS | (set(DEFAULT_PROFILE.fields) - {"service_referral_id"})
    assert seen["contact"] == {"phone": "314-555-0100", "email": "jordan@example.org", "preferred_language": "en"}
    (requested,) = outbox_rows(resources, ref["id"], "service_referral.requested")
    view = json.loads(requested.body)["data"]["partner_view"]
    assert set(view) == set(DEFAULT_PROFILE.fields) | {NOTICE_FIELD}


def test_a_stored_profile_decides_the_api_view_and_the_events_alike(resources, agency):
    api = resources.start()
    supervisor = make_token(agency, ("supervisor",), sub="sup-1")
    fields = ["service_referral_id", "status", "participant_first_name", "contact", "need", "respond_by"]
    put = api.request("PUT", f"/v1/sharing-profiles/{ST_PATRICK}", token=supervisor,
                      json={"fields": fields, "contact_methods": ["email"]})
    assert put.status_code == 200, put.text
    assert put.json()["source"] == "agency" and put.json()["version"] == 1 and put.headers["ETag"]
    ref = refer(resources, api, agency).json()
    partner = make_token(agency, ("partner",), org=ST_PATRICK)
    own = api.get(f"/v1/service-referrals/{ref['id']}", token=partner)
    assert set(own.json()) == ALWAYS | {"participant_first_name", "contact", "need", "respond_by"}
    assert own.json()["contact"] == {"email": "jordan@example.org", "preferred_language": "en"}
    assert own.json()["need"] == "Stable housing within a month"
    moved = move(api, partner, ref, own.headers["ETag"], "accepted")
    assert moved.status_code == 200, moved.text
    for event_type in ("service_referral.requested", "service_referral.status_changed"):
        (row,) = outbox_rows(resources, ref["id"], event_type)
        view = json.loads(row.body)["data"]["partner_view"]
        assert set(view) == set(fields) | {NOTICE_FIELD}, event_type
        assert "phone" not in json.dumps(view) and view["contact"]["email"] == "jordan@example.org"
    # another organization keeps the default
    other = refer(resources, api, agency, organization_id=PLACES,
                  service_id=SUBSTANCE).json()
    (row,) = outbox_rows(resources, other["id"], "service_referral.requested")
    assert set(json.loads(row.body)["data"]["partner_view"]) == set(DEFAULT_PROFILE.fields) | {NOTICE_FIELD}
    trail = resources.sql("SELECT action, actor FROM audit_event WHERE action = 'sharing_profile.set' "
                          "AND agency_id = :a", a=agency)
    assert [(r.action, r.actor) for r in trail] == [("sharing_profile.set", "sup-1")]


def test_a_profile_cannot_name_what_never_leaves_nor_drop_what_is_always_shared(resources, agency):
    api = resources.start()
    supervisor = make_token(agency, ("supervisor",))
    for fields, kind in ((["service_referral_id", "status", "case_id"], "never_leaves"),
                         (["service_referral_id", "status", "charges", "note"], "never_leaves"),
                         (["service_referral_id", "status", "staff_login"], "never_leaves"),
                         (["service_referral_id", "status", "shoe_size"], "unknown"),
                         (["service_referral_id", "need"], "required")):
        refused = api.request("PUT", f"/v1/sharing-profiles/{ST_PATRICK}", token=supervisor, json={"fields": fields})
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith("/invalid-sharing-profile")
        assert kind in {e["type"] for e in refused.json()["errors"]}, refused.json()
    bad_method = api.request("PUT", f"/v1/sharing-profiles/{ST_PATRICK}", token=supervisor,
                             json={"fields": ["service_referral_id", "status"], "contact_methods": ["fax"]})
    assert bad_method.status_code == 422
    assert resources.sql("SELECT count(*) FROM sharing_profile WHERE agency_id = :a", a=agency)[0][0] == 0


def test_who_may_read_and_change_a_profile_and_changes_need_if_match(resources, agency):
    api = resources.start()
    supervisor = make_token(agency, ("supervisor",))
    path = f"/v1/sharing-profiles/{ST_PATRICK}"
    body = {"fields": ["service_referral_id", "status", "need_category"]}
    first = api.request("PUT", path, token=supervisor, json=body)
    assert first.status_code == 200
    assert api.request("PUT", path, token=supervisor, json=body).status_code == 428
    assert api.request("PUT", path, token=supervisor, json=body, headers={"If-Match": '"stale.0"'}).status_code == 412
    second = api.request("PUT", path, token=supervisor, json=body, headers={"If-Match": first.headers["ETag"]})
    assert second.status_code == 200 and second.json()["version"] == 2
    partner = make_token(agency, ("partner",), org=ST_PATRICK)
    assert api.get(path, token=partner).json()["version"] == 2
    assert api.request("PUT", path, token=partner, json=body).status_code == 403
    assert api.get(f"/v1/sharing-profiles/{PLACES}", token=partner).status_code == 404
    assert api.get(path, token=make_token(agency, ("case_manager",))).status_code == 403
    assert api.get("/v1/sharing-profiles/no-such-org", token=supervisor).status_code == 404
    # another agency's profile for the same organization is its own (tenancy)
    assert api.get(path, token=make_token(f"{agency}-x", ("supervisor",))).json()["source"] == "default"


def test_a_partner_list_shows_a_referral_no_consent_covers_now_as_id_and_status_only(resources, agency):
    api = resources.start()
    ref = refer(resources, api, agency).json()
    partner = make_token(agency, ("partner",), org=ST_PATRICK)
    listed = api.get("/v1/service-referrals", token=partner).json()["items"]
    assert "contact" in next(i for i in listed if i["id"] == ref["id"])
    participant = resources.sql("SELECT participant_id FROM service_referral WHERE id = :i", i=ref["id"])[0][0]
    del resources.ledger.covered[(agency, participant, ST_PATRICK)]  # the consent revoked in casework
    listed = api.get("/v1/service-referrals", token=partner).json()["items"]
    entry = next(i for i in listed if i["id"] == ref["id"])
    assert set(entry) == ALWAYS | {"withheld"} and entry["withheld"] == "consent-not-covering"
    assert entry["allowed_next"] == []
    read = api.get(f"/v1/service-referrals/{ref['id']}", token=partner)
    assert read.status_code == 403 and read.json()["type"].endswith("/consent-not-covering")
    assert resources.ledger.calls[-1]["channel"] == "partner_read"
