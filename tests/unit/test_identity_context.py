"""What an identity carries along RPC calls and events."""
from __future__ import annotations

import warnings

from nameko.containers import WorkerContext
from nameko.messaging import HeaderEncoder

from shared.auth import Identity


class _Container:
    service_name = "resources"
    config: dict[str, object] = {}


class _Entrypoint:
    method_name = "create_service_referral"


def _headers(identity: Identity) -> dict[str, object]:
    ctx = WorkerContext(_Container(), None, _Entrypoint(), data=identity.context_data())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nameko warns, then drops, headers whose value is None
        return HeaderEncoder().get_message_headers(ctx)


def test_staff_identity_travels_without_an_empty_org_header() -> None:
    staff = Identity(sub="cm-1", agency="stl-cao", roles=["case_manager"])
    headers = _headers(staff)
    assert "nameko.org" not in headers
    assert Identity.from_context(staff.context_data()) == staff


def test_partner_identity_carries_its_organization() -> None:
    partner = Identity(sub="p-1", agency="stl-cao", roles=["partner"], org="org-st-patrick")
    assert _headers(partner)["nameko.org"] == "org-st-patrick"
    assert Identity.from_context(partner.context_data()) == partner
