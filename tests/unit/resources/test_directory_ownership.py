"""Who may edit a listing of the shared directory (ADR 0031), as plain rules."""

from __future__ import annotations

import pytest

from services.resources.domain.ownership import may_edit_listing
from shared.auth import Identity

ORG, PLATFORM = "org-1", "platform"


def who(agency: str, *roles: str, org: str | None = None) -> Identity:
    return Identity(sub="someone", agency=agency, roles=frozenset(roles), org=org)


@pytest.mark.parametrize(("identity", "steward", "allowed"), [
    (who(PLATFORM, "directory_admin"), None, True),  # the deployment's directory admin: any listing
    (who("stl-cao", "directory_admin"), "stl-cao", False),  # the role in an agency's token counts for nothing
    (who("stl-cao", "admin"), "stl-cao", False),  # an agency's admin is not the directory's
    (who("stl-cao", "partner", org=ORG), "stl-cao", True),  # its own organization, from the steward agency
    (who("other-da", "partner", org=ORG), "stl-cao", False),  # another agency's token naming the organization
    (who("stl-cao", "partner", org=ORG), None, False),  # nobody stewards it yet
    (who("stl-cao", "partner", org="org-2"), "stl-cao", False),  # another organization
    (who(PLATFORM, "admin"), None, False),  # the deployment's admin reads the platform audit, edits nothing here
])
def test_only_the_deployments_directory_admin_or_the_organizations_own_partner_edits_a_listing(
        identity: Identity, steward: str | None, allowed: bool):
    verdict = may_edit_listing(identity, ORG, steward, PLATFORM)
    assert verdict.allowed is allowed, verdict.reason
    assert verdict.reason
