# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""The directory is the deployment's (ADR 0031): an agency's admin cannot edit it, a partner edits its own
organization's listings only with a token of the organization's steward agency, and the deployment's
directory_admin names that agency and edits any listing."""

from __future__ import annotations

from resources_support import resources  # noqa: F401 - fixture

from services.resources.directory.needs import stable_id
from tests.conftest import make_token

HOUSING = str(stable_id("service", "St. Patrick Center", "Housing"))
ST_PATRICK = str(stable_id("organization", "St. Patrick Center"))


def _patch(api, token, body=None):
    etag = api.get(f"/v1/services/{HOUSING}", token=token).headers["ETag"]
    return api.request("PATCH", f"/v1/services/{HOUSING}", token=token, json=body or {"assured": True},
                       headers={"If-Match": etag})


def _audited_denial(api, agency):
    rows = api.get("/v1/audit", token=make_token(agency, ("auditor",)),
                   params={"action": "service.update", "outcome": "denied"}).json()["items"]
    return [row["detail"]["reason"] for row in rows]


def test_an_agencys_admin_and_another_agencys_partner_token_cannot_edit_the_shared_directory(resources, agency):
    api = resources.start(casework=False)
    assert _patch(api, make_token(agency, ("admin",))).status_code == 403
    # The seed's organizations are stewarded by the demo agency: a token of another agency naming the
    # organization in its `org` claim does not speak for it.
    forged = _patch(api, make_token(agency, ("partner",), org=ST_PATRICK))
    assert forged.status_code == 403 and forged.json()["type"].endswith("not-your-listing")
    assert any("another agency" in reason for reason in _audited_denial(api, agency))
    assert _patch(api, make_token(agency, ("directory_admin",))).status_code == 403  # not the operator's tenant


def test_the_deployments_directory_admin_names_the_steward_agency_whose_partner_then_edits(resources, agency):
    api = resources.start(casework=False)
    directory_admin = make_token("platform", ("directory_admin",), sub="curator-1")
    partner = make_token(agency, ("partner",), org=ST_PATRICK)
    assert _patch(api, partner).status_code == 403
    refused = api.request("PUT", f"/v1/organizations/{ST_PATRICK}/steward", token=make_token(agency, ("admin",)),
                          json={"agency_id": agency})
    assert refused.status_code == 403
    named = api.request("PUT", f"/v1/organizations/{ST_PATRICK}/steward", token=directory_admin,
                        json={"agency_id": agency})
    assert named.status_code == 200, named.text
    try:
        assert named.json()["agency_id"] == agency and named.json()["assigned_by"] == "curator-1"
        assert _patch(api, partner, {"capacity": "waitlist"}).status_code == 200
        assert _patch(api, make_token("stl-cao", ("partner",), org=ST_PATRICK)).status_code == 403  # not any more
        assert _patch(api, directory_admin, {"capacity": "accepting"}).status_code == 200
    finally:  # the seed's steward again, for the other tests on this database
        api.request("PUT", f"/v1/organizations/{ST_PATRICK}/steward", token=directory_admin,
                    json={"agency_id": "stl-cao"})
    assert api.request("PUT", "/v1/organizations/no-such-org/steward", token=directory_admin,
                       json={"agency_id": agency}).status_code == 404
