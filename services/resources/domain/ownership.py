"""Who may edit a listing of the shared directory (ADR 0031).

The directory belongs to the deployment, not to an agency: every agency searches and refers into the same
listings. A `directory_admin` of the deployment (the role in the operator's tenant) edits any listing and
names, per organization, the agency whose partner logins speak for it (its steward). A partner edits only
its own organization's listings, and only when its token comes from that steward agency: an `org` claim
in another agency's token does not make it the organization. An agency's `admin` administers its agency,
not the shared directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import Identity


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


def is_directory_admin(identity: Identity, platform_agency: str) -> bool:
    return "directory_admin" in identity.roles and identity.agency == platform_agency


def may_edit_listing(identity: Identity, organization_id: str, steward_agency: str | None,
                     platform_agency: str) -> Verdict:
    if is_directory_admin(identity, platform_agency):
        return Verdict(True, "directory_admin of the deployment")
    if "partner" in identity.roles and identity.org == organization_id:
        if steward_agency is None:
            return Verdict(False, "no agency stewards this organization yet; a directory_admin names one")
        if steward_agency != identity.agency:
            return Verdict(False, "the organization's partner logins come from another agency")
        return Verdict(True, "the organization's own partner, from its steward agency")
    if "directory_admin" in identity.roles:
        return Verdict(False, "directory_admin counts only in the deployment's operator tenant")
    if "partner" in identity.roles:
        return Verdict(False, "a partner may change only its own organization's listings")
    return Verdict(False, "listings are edited by the deployment's directory_admin or the organization's partner")
