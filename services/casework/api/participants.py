"""Endpoints: participant search, corrections of a participant and their history."""

from __future__ import annotations

from services.casework.api.base import IF_MATCH, RECORD_READERS, WHOLE_AGENCY, WRITERS, CaseworkBase
from services.casework.schemas import ParticipantOut
from services.casework.schemas_corrections import (
    ChangeOut,
    ParticipantHit,
    ParticipantPatch,
    ParticipantSearchQuery,
)
from services.casework.usecases import corrections, search
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, api
from shared.http.concurrency import etag
from shared.http.pagination import Page


class ParticipantEndpoints(CaseworkBase):
    @api("GET", "/v1/participants", person_data=True, roles=RECORD_READERS, query=ParticipantSearchQuery,
         response=Page[ParticipantHit], tags=["cases"],
         summary="Find participants by a name prefix (accents and case ignored), birth date or case status; a "
                 "case manager finds only their caseload (every search is audited with its terms)")
    def search_participants(self, call: Call[None, ParticipantSearchQuery]) -> Page[ParticipantHit]:
        query = call.query
        sealed_too = self._list_sealed(call)
        items, next_cursor = search.search_participants(
            self.db, call, include_sealed=sealed_too, whole_agency=bool(self._roles(call) & WHOLE_AGENCY) or sealed_too)
        if sealed_too:
            self.audit.record_now(call, "sealed_record.opened", "participant", None,
                                  detail={"legal_basis": call.legal_basis})
        terms = query.model_dump(mode="json", exclude={"cursor", "limit"}, exclude_none=True)
        self.audit.record_now(call, "participant.searched", "participant", None,
                              detail={"terms": terms, "ids": [item.id for item in items]})
        return Page[ParticipantHit](items=items, next_cursor=next_cursor)

    @api("PATCH", "/v1/participants/<id>", roles=WRITERS, body=ParticipantPatch, response=ParticipantOut,
         required_headers=IF_MATCH, errors=[412, 428], tags=["cases"],
         summary="Correct a participant's contact details, language or address (If-Match; history kept; "
                 "events never overwrite what staff set)")
    def patch_participant(self, call: Call[ParticipantPatch], id: str) -> ApiResponse:
        person = self._participant(call, id, write=True)
        self.db.refresh(person, with_for_update=True)
        self._match(call, etag(person.id, person.version))
        changes = corrections.patch_participant(self.db, person, call.body, actor=call.actor, now=utcnow())
        self.audit.record(call, "participant.corrected", "participant", person.id,
                          detail={"fields": [c.field for c in changes], "version": person.version})
        self._commit()
        return ApiResponse(ParticipantOut.model_validate(person), headers={"ETag": etag(person.id, person.version)})

    @api("GET", "/v1/participants/<id>/history", person_data=True, roles=RECORD_READERS, response=list[ChangeOut],
         tags=["cases"], summary="Corrections of a participant's record, oldest first (who, when, old -> new)")
    def participant_history(self, call: Call, id: str) -> list[ChangeOut]:
        person = self._participant(call, id)  # whoever may read the record may read its corrections
        out = [ChangeOut.model_validate(change.model_dump())
               for change in corrections.history(self.db, call.agency, "participant", person.id)]
        self.audit.record_now(call, "participant.history_read", "participant", person.id)
        return out
