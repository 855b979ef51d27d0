"""Endpoints: 42 CFR Part 2 consents of a participant and their revocation; the consent check over RPC."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from services.casework.api.base import IDEMPOTENT, IF_MATCH, RECORD_READERS, WRITERS, CaseworkBase
from services.casework.mapping import consent_out
from services.casework.schemas import ConsentIn, ConsentOut, RevocationIn
from services.casework.usecases import consent_events, consents, people
from services.casework.usecases.common import utcnow
from shared.auth import Identity
from shared.http import ApiResponse, Call, UnprocessableContent, api
from shared.http.concurrency import etag
from shared.idempotency import replay
from shared.messaging import rpc

WITHHELD_CHANNELS = frozenset({"service_referral", "partner_read", "webhook", "amqp", "email", "sms"})


class ConsentEndpoints(CaseworkBase):
    @api("POST", "/v1/participants/<id>/consents", roles=WRITERS, body=ConsentIn, response=ConsentOut, status=201,
         headers=IDEMPOTENT, tags=["consents"],
         summary="Record a 42 CFR Part 2 consent (2.31 elements; 2.35 deferred revocation for criminal justice)")
    def add_consent(self, call: Call[ConsentIn], id: str) -> ApiResponse:
        person = self._participant(call, id, write=True)
        scope = f"consent:{person.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        try:
            row = consents.add_consent(self.db, person, call.body, agency=call.agency, by=call.actor, now=utcnow())
        except ValidationError as exc:
            raise UnprocessableContent("the consent is invalid", errors=[
                {"field": ".".join(map(str, e["loc"])) or "(body)", "message": str(e["msg"]), "type": e["type"]}
                for e in exc.errors()]) from None
        self.audit.record(call, "consent.created", "consent", row.id,
                          detail={"participant_id": person.id, "kind": row.kind,
                                  "recipient_org_id": row.recipient_org_id})
        self.db.flush()
        consent_events.recorded(self.db, self._emit, row, utcnow())  # ADR 0070
        return self._created(call, scope, consent_out(row), etag(row.id, row.version))

    @api("GET", "/v1/participants/<id>/consents", person_data=True,
         roles=RECORD_READERS, response=list[ConsentOut], tags=["consents"],
         summary="A participant's consents, newest first, with those of the person's linked participant records "
                 "(ADR 0071; the read is audited)")
    def list_consents(self, call: Call, id: str) -> list[ConsentOut]:
        person = self._participant(call, id)
        out = [consent_out(r) for r in consents.list_consents(
            self.db, self._visible(call, people.member_ids(self.db, call.agency, person)))]
        self.audit.record_now(call, "consent.read", "participant", person.id, detail={"ids": [c.id for c in out]})
        return out

    @api("GET", "/v1/participants/<id>/consents/<consent_id>", person_data=True,
         roles=RECORD_READERS, response=ConsentOut,
         tags=["consents"], summary="One consent, with its ETag")
    def get_consent(self, call: Call, id: str, consent_id: str) -> ApiResponse:
        person = self._participant(call, id)
        row = consents.consent_of(self.db, person, consent_id)
        self.audit.record_now(call, "consent.read", "consent", row.id)
        return ApiResponse(consent_out(row), headers={"ETag": etag(row.id, row.version)})

    @api("POST", "/v1/participants/<id>/consents/<consent_id>/revocation", roles=WRITERS, body=RevocationIn,
         response=ConsentOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["consents"],
         summary="Revoke a consent (a 2.35 consent only from its stated time or event, or at disposition)")
    def revoke_consent(self, call: Call[RevocationIn], id: str, consent_id: str) -> ApiResponse:
        person = self._participant(call, id, write=True)
        row = consents.consent_of(self.db, person, consent_id, lock=True)
        self._match(call, etag(row.id, row.version))
        body = call.body
        changed = consents.revoke(self.db, row, agency=call.agency, on=body.on or utcnow().date(), by=call.actor,
                                  method=body.method)  # RevocationDeferred: 409 revocation-deferred
        if changed:
            self.audit.record(call, "consent.revoked", "consent", row.id, detail={"participant_id": person.id})
            consent_events.revoked(self.db, self._emit, row, utcnow())  # same transaction (ADR 0070)
        self._commit()
        return ApiResponse(consent_out(row), headers={"ETag": etag(row.id, row.version)})

    @rpc
    def consent_covers(self, participant_id: str, recipient_org: str, categories: list[str], purpose: str,
                       on_date: str, case_id: str | None = None, channel: str | None = None) -> dict[str, Any]:
        """Does a valid consent cover this disclosure? Covered checks are logged as disclosures (ADR 0040);
        a refused one that names its `channel` is a withheld disclosure in the accounting (ADR 0071)."""
        agency = self.context.get("agency")
        actor = str(self.context.get("sub") or "rpc")
        if not agency:
            return {"covered": False, "consent_id": None,
                    "reason": "no agency in the call's context; a consent check needs the caller's identity",
                    "notice": ""}
        check = consents.check_consent(self.db, agency=agency, actor=actor, participant_id=participant_id,
                                       recipient_org=recipient_org, categories=categories, purpose=purpose,
                                       on_date=on_date, now=utcnow(), case_id=case_id,
                                       channel=channel if channel in WITHHELD_CHANNELS else None)
        if check.participant_id is None:
            return check.answer
        caller = Identity.from_context(self.context)
        if caller is None or caller.agency != agency:  # audited as nobody in particular, in the agency asked about
            caller = Identity(sub="anonymous", agency=agency, roles=frozenset())
        self.audit.record_as(caller, "consent.checked", "participant", check.participant_id,
                             request_id=self.context.get("request_id"), detail={**(check.detail or {}), "actor": actor},
                             outcome="success" if check.covered else "denied")
        self.db.commit()
        return check.answer
