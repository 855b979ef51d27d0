"""Endpoints: one person across cases (link, unlink, the links) and the accounting of disclosures (ADR 0071)."""

from __future__ import annotations

from typing import Any

from services.casework.api.base import RECORD_READERS, SUPERVISORS, CaseworkBase
from services.casework.models import Participant
from services.casework.people_schemas import DisclosureOut, DisclosureQuery, LinkIn, LinkOut, PersonOut, UnlinkIn
from services.casework.usecases import consent_events, disclosures, people
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, UnprocessableContent, api
from shared.http.pagination import Page


class PeopleEndpoints(CaseworkBase):
    def _person_out(self, call: Call, person: Participant) -> PersonOut:
        ids = self._visible(call, people.member_ids(self.db, call.agency, person))
        return PersonOut(participant_id=person.id, person_id=people.person_of(person), participant_ids=ids,
                         links=[LinkOut.model_validate(r) for r in people.link_history(self.db, call.agency, ids)])

    @api("GET", "/v1/participants/<id>/links", person_data=True,
         roles=RECORD_READERS, response=PersonOut, tags=["cases"],
         summary="The person this participant record is one of: the linked records and every link (audited)")
    def get_links(self, call: Call, id: str) -> PersonOut:
        person = self._participant(call, id)
        out = self._person_out(call, person)
        self.audit.record_now(call, "participant.links_read", "participant", person.id,
                              detail={"participant_ids": out.participant_ids})
        return out

    @api("POST", "/v1/participants/<id>/links", roles=SUPERVISORS, body=LinkIn, response=PersonOut,
         tags=["cases"],
         summary="Link another participant record as the same person (supervisor): consents carry over, the "
                 "accounting of disclosures covers both; audited, undone with /unlink")
    def link_participant(self, call: Call[LinkIn], id: str) -> PersonOut:
        body: LinkIn = call.body
        person = self._participant(call, id, write=True)
        other = people.participant_of(self.db, call.agency, body.participant_id)
        try:
            made = people.link(self.db, call.agency, person, other, source=people.STAFF, reason=body.reason,
                               by=call.actor, now=utcnow())
        except people.LinkRefused as exc:
            raise UnprocessableContent(str(exc), slug="invalid-link", errors=[
                {"field": "participant_id", "message": str(exc), "type": "value_error"}]) from None
        if made:
            self.audit.record(call, "participant.linked", "participant", person.id,
                              detail={"other_participant_id": other.id, "person_id": made[0].person_id,
                                      "linked": [m.participant_id for m in made], "source": people.STAFF})
            consent_events.republish(self.db, self._emit, people.member_ids(self.db, call.agency, person), utcnow())
        self._commit()
        return self._person_out(call, person)

    @api("POST", "/v1/participants/<id>/unlink", roles=SUPERVISORS, body=UnlinkIn, response=PersonOut,
         tags=["cases"],
         summary="Undo a link (supervisor): this record stands alone again, consents no longer carry over; audited")
    def unlink_participant(self, call: Call[UnlinkIn], id: str) -> PersonOut:
        person = self._participant(call, id, write=True)
        changed = people.unlink(self.db, call.agency, person, reason=call.body.reason, by=call.actor, now=utcnow())
        if changed:
            self.audit.record(call, "participant.unlinked", "participant", person.id,
                              detail={"changed": changed, "reason": call.body.reason[:300]})
            consent_events.republish(self.db, self._emit, sorted({person.id, *changed}), utcnow())
        self._commit()
        return self._person_out(call, person)

    @api("GET", "/v1/participants/<id>/disclosures", person_data=True, roles=RECORD_READERS, query=DisclosureQuery,
         response=Page[DisclosureOut], tags=["consents"], alternatives=["text/csv"],
         summary="The accounting of disclosures of the person (every linked record): what went to whom, when, "
                 "which categories, under which consent, and what was withheld; ?format=csv or Accept: text/csv "
                 "for the participant's copy (audited)")
    def list_disclosures(self, call: Call[None, DisclosureQuery], id: str) -> Any:
        person = self._participant(call, id)
        ids = self._visible(call, people.member_ids(self.db, call.agency, person))
        as_csv = call.query.format == "csv" or "text/csv" in (call.accept or "")
        if as_csv:
            rows = disclosures.everything(self.db, call.agency, ids)
        else:
            rows, next_cursor = disclosures.page(self.db, call, ids)
        self.audit.record_now(call, "disclosure.read", "participant", person.id,
                              detail={"participant_ids": ids, "format": "csv" if as_csv else "json",
                                      "ids": [r.id for r in rows][:200], "count": len(rows)})
        items = disclosures.as_dicts(self.db, call.agency, rows)
        if as_csv:
            return ApiResponse(disclosures.to_csv(items), media_type="text/csv", headers={
                "Content-Disposition": f'attachment; filename="disclosures-{person.id}.csv"'})
        return Page[DisclosureOut](items=[DisclosureOut.model_validate(i) for i in items], next_cursor=next_cursor)
