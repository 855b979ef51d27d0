"""resources: the HSDS directory of community services (search, listings) and closed-loop service referrals."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from services.resources.domain.referrals import (
    InvalidTransition,
    ReasonCodeRequired,
    ServiceNotAccepting,
)
from services.resources.hsds_api import HsdsApi
from services.resources.mapping import history_out, hit_out, stale_listing_out
from services.resources.schemas import (
    OrganizationOut,
    OrganizationQuery,
    PartnerServiceReferralOut,
    ServiceAtLocationOut,
    ServiceAtLocationQuery,
    ServiceHit,
    ServicePatch,
    ServiceReferralCreate,
    ServiceReferralHistoryOut,
    ServiceReferralOut,
    ServiceReferralQuery,
    ServiceReferralStatusChange,
    ServiceSearchQuery,
    SharingProfileIn,
    SharingProfileOut,
    StaleListingOut,
    StaleListingsQuery,
    StewardIn,
    StewardOut,
    TaxonomyTermOut,
    TaxonomyTermQuery,
)
from services.resources.settings import ResourcesSettings
from services.resources.usecases import caseload, closeout, directory, referrals, sealing, sharing
from services.resources.usecases import search as searching
from services.resources.usecases.escalation import escalate_due
from shared.db import Database
from shared.disclosure import ProfileInvalid
from shared.extensions import AuditLog, Auditor, OwnSettings, settings_timer
from shared.http import Call, api
from shared.http.api import ApiResponse
from shared.http.concurrency import etag
from shared.http.pagination import Page, Pager
from shared.http.problems import register_problem
from shared.idempotency import remember, replay
from shared.messaging import CloudEvent, Outbox, RpcProxy, reliable_handler
from shared.messaging.catalog import (
    CaseAssigned,
    CaseCompleted,
    CaseOpened,
    CaseTerminated,
    CaseWithdrawn,
    RecordErasureRequested,
    RecordSealingRequested,
)
from shared.messaging.nameko_outbox import OutboxWriter
from shared.messaging.signing import signing_key
from shared.records import tombstone_key
from shared.service import ServiceBase

ANY_ROLE = {"screener", "case_manager", "supervisor", "partner", "admin", "auditor", "directory_admin"}
STAFF = {"case_manager", "supervisor", "admin"}
REFERRAL_WRITERS = STAFF | {"partner"}
# A records officer reads too: a sealed referral only naming a RSMo 610.120 code in X-Legal-Basis (ADR 0083).
REFERRAL_READERS = REFERRAL_WRITERS | {"records_officer"}
HISTORY_READERS = STAFF | {"records_officer"}
CREATE_SCOPE = "service_referral.create"

register_problem(InvalidTransition, 409, "invalid-transition", "The service referral cannot move to that status")
register_problem(ReasonCodeRequired, 422, "reason-code-required", "A reason code is required")
register_problem(ServiceNotAccepting, 409, "service-not-accepting", "Conflict")
register_problem(ProfileInvalid, 422, "invalid-sharing-profile", "Request body is invalid")

SETTINGS_CLASS = ResourcesSettings
log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ResourcesService(HsdsApi, ServiceBase):
    """The community resource directory (HSDS 3.0) and closed-loop service referrals to partners."""

    name = "resources"
    api_tags = {
        "directory": "The community resource directory (HSDS 3.0): organizations, services, locations, taxonomy.",
        "service referrals": "Closed-loop referrals of participants to partners' services, with their history.",
    }
    db = Database()
    outbox: OutboxWriter = Outbox()
    casework = RpcProxy("casework")
    config: ResourcesSettings = OwnSettings(ResourcesSettings)
    audit: AuditLog = Auditor()

    def _emit(self, event: CloudEvent[Any]) -> None:
        self.outbox.record(self.db, event)

    def _platform_agency(self) -> str:
        return self.ops.settings.common.platform_agency

    def _tombstone_key(self) -> bytes:
        return tombstone_key(signing_key(self.ops.settings.common))

    def _erased(self, event: CloudEvent[Any], case_id: str, participant_id: str | None = None) -> bool:
        """An event about an erased case creates nothing (ADR 0083): logged with its id only."""
        if not sealing.is_buried(self.db, self._tombstone_key(), event.tenantid, case=case_id,
                                 participant=participant_id):
            return False
        log.warning("resources: %s %s names an erased case; acknowledged, nothing created", event.type, event.id)
        return True

    def _service_document(self, service_id: str) -> ApiResponse:
        document, tag = directory.service_document(self.db, service_id)
        return ApiResponse(document, headers={"ETag": tag})

    # -- directory: organizations -------------------------------------------------------------------

    @api("GET", "/v1/organizations", roles=ANY_ROLE, query=OrganizationQuery, response=Page[OrganizationOut],
         tags=["directory"], summary="Organizations of the directory, by name")
    def list_organizations(self, call: Call[None, OrganizationQuery]) -> Page[OrganizationOut]:
        rows, next_cursor = directory.list_organizations(self.db, call, call.query)
        return Page[OrganizationOut](items=[OrganizationOut.model_validate(dict(row)) for row in rows],
                                     next_cursor=next_cursor)

    @api("GET", "/v1/organizations/<organization_id>", roles=ANY_ROLE, response=dict[str, Any],
         tags=["directory"], summary="One organization as an HSDS 3.0 document (services, locations nested)")
    def get_organization(self, call: Call, organization_id: str) -> dict[str, Any]:
        return directory.organization_document(self.db, organization_id)

    # -- directory: services ------------------------------------------------------------------------

    @api("GET", "/v1/services", roles=ANY_ROLE, query=ServiceSearchQuery, response=Page[ServiceHit],
         tags=["directory"],
         summary="Search services: need category, free text, organization, open now, distance; ranked, paged")
    def search_services(self, call: Call[None, ServiceSearchQuery]) -> Page[ServiceHit]:
        pager = Pager(call, offset=True)  # ranked by relevance and distance: a signed offset
        hits, more = searching.search(self.db, call.query, self.config.timezone, _now(), pager.offset)
        items = [hit_out(hit) for hit in hits]
        return Page[ServiceHit](items=items, next_cursor=pager.next_offset(len(items), more))

    @api("GET", "/v1/services/<service_id>", roles=ANY_ROLE, response=dict[str, Any], tags=["directory"],
         summary="One service as an HSDS 3.0 document, with its capacity flag and an ETag")
    def get_service(self, call: Call, service_id: str) -> ApiResponse:
        return self._service_document(service_id)

    @api("PUT", "/v1/organizations/<organization_id>/steward", roles={"directory_admin"}, body=StewardIn,
         response=StewardOut, tags=["directory"],
         summary="Name the agency whose partner logins may edit this organization's listings (directory_admin "
                 "of the deployment)")
    def set_steward(self, call: Call[StewardIn], organization_id: str) -> StewardOut:
        body: StewardIn = call.body
        now = _now()
        directory.set_steward(self.db, call, organization_id, body.agency_id, self._platform_agency(), now)
        self.audit.record(call, "organization.steward_set", "organization", organization_id,
                          detail={"agency_id": body.agency_id})
        self.db.commit()
        return StewardOut(organization_id=organization_id, agency_id=body.agency_id, assigned_by=call.actor,
                          assigned_at=now)

    @api("PATCH", "/v1/services/<service_id>", roles={"partner", "directory_admin"}, body=ServicePatch,
         response=dict[str, Any], required_headers=["If-Match"], errors=[412, 428], tags=["directory"],
         summary="Update a listing (the deployment's directory_admin; a partner only its own organization's, "
                 "from its steward agency), set capacity, confirm it (assured)")
    def update_service(self, call: Call[ServicePatch], service_id: str) -> ApiResponse:
        patch: ServicePatch = call.body
        directory.update_service(self.db, self.audit, call, service_id, patch, self._platform_agency(), _now())
        self.audit.record(call, "service.updated", "service", service_id,
                          detail={"fields": sorted(patch.model_fields_set)})
        self.db.commit()
        return self._service_document(service_id)

    @api("GET", "/v1/service_at_locations", roles=ANY_ROLE, query=ServiceAtLocationQuery,
         response=Page[ServiceAtLocationOut], tags=["directory"], summary="Where each service is offered")
    def list_service_at_locations(self, call: Call[None, ServiceAtLocationQuery]) -> Page[ServiceAtLocationOut]:
        rows, next_cursor = directory.list_service_at_locations(self.db, call, call.query)
        return Page[ServiceAtLocationOut](items=[ServiceAtLocationOut.model_validate(dict(r)) for r in rows],
                                          next_cursor=next_cursor)

    @api("GET", "/v1/taxonomy_terms", roles=ANY_ROLE, query=TaxonomyTermQuery, response=Page[TaxonomyTermOut],
         tags=["directory"], summary="Taxonomy terms (the need categories are taxonomy diversion-needs)")
    def list_taxonomy_terms(self, call: Call[None, TaxonomyTermQuery]) -> Page[TaxonomyTermOut]:
        rows, next_cursor = directory.list_taxonomy_terms(self.db, call, call.query)
        return Page[TaxonomyTermOut](items=[TaxonomyTermOut.model_validate(dict(r)) for r in rows],
                                     next_cursor=next_cursor)

    @api("GET", "/v1/reports/stale-listings", roles={"supervisor", "admin", "partner"}, query=StaleListingsQuery,
         response=Page[StaleListingOut], tags=["directory"],
         summary="Services not verified (HSDS assured_date) in N days; a partner sees its own")
    def stale_listings(self, call: Call[None, StaleListingsQuery]) -> Page[StaleListingOut]:
        today = dt.date.today()
        rows, next_cursor = directory.stale_listings(self.db, call, call.query, today)
        return Page[StaleListingOut](items=[stale_listing_out(r, today) for r in rows], next_cursor=next_cursor)

    # -- service referrals --------------------------------------------------------------------------

    @api("POST", "/v1/service-referrals", roles={"case_manager", "supervisor"}, body=ServiceReferralCreate,
         response=ServiceReferralOut, status=201, headers=["Idempotency-Key"], errors=[409, 503],
         tags=["service referrals"],
         summary="Refer a participant to a partner's service; casework must confirm a covering consent first")
    def create_service_referral(self, call: Call[ServiceReferralCreate]) -> Any:
        replayed = replay(self.db, call, CREATE_SCOPE)
        if replayed is not None:
            return replayed
        ref = referrals.create(self.db, self._emit, self.audit, call, call.body, self.casework.consent_covers,
                               self.config.referral_sla_hours, _now(), self._tombstone_key())
        view = referrals.views(self.db, call, [ref])[0]
        remember(self.db, call, CREATE_SCOPE, 201, view)
        self.db.commit()
        return ApiResponse(view, status=201, headers={
            "ETag": etag(ref.id, ref.version), "Location": f"/v1/service-referrals/{ref.id}"})

    @api("GET", "/v1/service-referrals", person_data=True, roles=REFERRAL_READERS, query=ServiceReferralQuery,
         response=Page[ServiceReferralOut | PartnerServiceReferralOut], tags=["service referrals"],
         summary="The agency's service referrals; a partner sees only those addressed to its organization")
    def list_service_referrals(self, call: Call[None, ServiceReferralQuery]) -> Any:
        page, next_cursor = referrals.list_referrals(self.db, self.audit, call, call.query)
        return Page[ServiceReferralOut | PartnerServiceReferralOut](
            items=referrals.views(self.db, call, page, self.casework.consent_covers), next_cursor=next_cursor,
        )

    @api("GET", "/v1/service-referrals/<referral_id>", person_data=True, roles=REFERRAL_READERS,
         response=ServiceReferralOut | PartnerServiceReferralOut, tags=["service referrals"],
         summary="One service referral (a partner's view holds only what sharing allows), with its ETag")
    def get_service_referral(self, call: Call, referral_id: str) -> ApiResponse:
        ref = referrals.read(self.db, self._emit, self.audit, call, referral_id, _now(),
                             self.casework.consent_covers)
        self.db.commit()
        return ApiResponse(referrals.views(self.db, call, [ref])[0], headers={"ETag": etag(ref.id, ref.version)})

    @api("PATCH", "/v1/service-referrals/<referral_id>", roles=REFERRAL_WRITERS, body=ServiceReferralStatusChange,
         response=ServiceReferralOut | PartnerServiceReferralOut, required_headers=["If-Match"], errors=[409, 412, 428],
         tags=["service referrals"],
         summary="Move a referral on: the partner receives, accepts, rejects, starts, completes or fails it; "
                 "the agency cancels it")
    def change_service_referral_status(self, call: Call[ServiceReferralStatusChange], referral_id: str) -> ApiResponse:
        ref = referrals.change_status(self.db, self._emit, self.audit, call, referral_id, call.body, _now(),
                                      self.casework.consent_covers)
        self.db.commit()
        return ApiResponse(referrals.views(self.db, call, [ref])[0], headers={"ETag": etag(ref.id, ref.version)})

    @api("GET", "/v1/service-referrals/<referral_id>/history", person_data=True, roles=HISTORY_READERS,
         response=list[ServiceReferralHistoryOut], tags=["service referrals"],
         summary="Every status of a referral, who set it and why (the referring agency only)")
    def service_referral_history(self, call: Call, referral_id: str) -> list[ServiceReferralHistoryOut]:
        return [history_out(row) for row in referrals.history(self.db, self.audit, call, referral_id)]

    # -- data-sharing profiles (ADR 0070) --------------------------------------------------------------

    @api("GET", "/v1/sharing-profiles/<organization_id>", roles={"supervisor", "admin", "partner"},
         response=SharingProfileOut, tags=["service referrals"],
         summary="Which fields this partner organization receives (API, webhooks, AMQP feed); a partner its own")
    def get_sharing_profile(self, call: Call, organization_id: str) -> ApiResponse:
        out, row = sharing.read(self.db, call, organization_id)
        return ApiResponse(out, headers={"ETag": sharing.tag(call, organization_id, row)})

    @api("PUT", "/v1/sharing-profiles/<organization_id>", roles={"supervisor", "admin"}, body=SharingProfileIn,
         response=SharingProfileOut, errors=[412, 428], tags=["service referrals"],
         summary="Set which fields this partner organization receives; never charges, history, case numbers, "
                 "notes, casework ids or staff identities. Changing a stored profile needs If-Match")
    def put_sharing_profile(self, call: Call[SharingProfileIn], organization_id: str) -> ApiResponse:
        out, row = sharing.put(self.db, self.audit, call, organization_id, call.body, _now())
        self.db.commit()
        return ApiResponse(out, headers={"ETag": sharing.tag(call, organization_id, row)})

    # -- casework's caseload (ADR 0071) --------------------------------------------------------------

    @reliable_handler(CaseOpened)
    def on_case_opened(self, event: CloudEvent[CaseOpened]) -> None:
        """Which participant a case is (a referral's case_id must be one of its participant's)."""
        if self._erased(event, event.data.case_id, event.data.participant_id):
            return
        caseload.case_opened(self.db, event.tenantid, event.data.case_id, event.data.participant_id, _now())

    @reliable_handler(CaseAssigned)
    def on_case_assigned(self, event: CloudEvent[CaseAssigned]) -> None:
        """Who holds a case now: access to its referrals moves with a reassignment."""
        data = event.data
        if self._erased(event, data.case_id):
            return
        caseload.case_assigned(self.db, event.tenantid, data.case_id, data.case_manager, data.assigned_at, _now())

    # -- close-out: a closed case closes its open referrals (issue 16) ------------------------------

    @reliable_handler(CaseCompleted)
    def on_case_completed(self, event: CloudEvent[CaseCompleted]) -> None:
        """The case ended in success: its open referrals are cancelled (`case_closed`), the partners told."""
        closeout.close_case_referrals(self.db, self._emit, event.tenantid, event.data.case_id, _now())

    @reliable_handler(CaseTerminated)
    def on_case_terminated(self, event: CloudEvent[CaseTerminated]) -> None:
        """The case was terminated: its open referrals are cancelled (`case_closed`), the partners told."""
        closeout.close_case_referrals(self.db, self._emit, event.tenantid, event.data.case_id, _now())

    @reliable_handler(CaseWithdrawn)
    def on_case_withdrawn(self, event: CloudEvent[CaseWithdrawn]) -> None:
        """The case was withdrawn: its open referrals are cancelled (`case_closed`), the partners told."""
        closeout.close_case_referrals(self.db, self._emit, event.tenantid, event.data.case_id, _now())

    # -- sealing and erasure (issue 16, ADR 0083) -----------------------------------------------------

    @reliable_handler(RecordSealingRequested)
    def on_record_sealing_requested(self, event: CloudEvent[RecordSealingRequested]) -> None:
        """Seal the case's service referrals (and caseload row); confirm, again on every retry."""
        sealing.seal_case(self.db, self._emit, event.tenantid, event.data, _now())

    @reliable_handler(RecordErasureRequested)
    def on_record_erasure_requested(self, event: CloudEvent[RecordErasureRequested]) -> None:
        """Delete what resources holds about the case, keep its tombstones; confirm, again on every retry."""
        sealing.erase_case(self.db, self._emit, self._tombstone_key(), event.tenantid, event.data, _now())

    # -- escalation ---------------------------------------------------------------------------------

    @settings_timer(ResourcesSettings, "escalation_interval_seconds")
    def escalate_unanswered_referrals(self) -> None:
        """Publish `service_referral.escalated` once per referral still `requested` past its SLA."""
        escalate_due(self.db, self._emit, self.audit, _now())


__all__ = ["ResourcesService", "ResourcesSettings", "escalate_due"]
