"""Endpoints: conditions that count: edits and waivers (with history), and the payment and hours ledgers."""

from __future__ import annotations

from services.casework.api.base import IDEMPOTENT, IF_MATCH, RECORD_READERS, WRITERS, CaseworkBase
from services.casework.domain.lifecycle import OverrideNotPermitted
from services.casework.mapping import hours_out, payment_out
from services.casework.schemas import (
    ConditionOut,
    ConditionPatchIn,
    ConditionRevisionOut,
    HoursIn,
    HoursOut,
    LedgerQuery,
    PaymentIn,
    PaymentOut,
)
from services.casework.usecases import conditions
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, api
from shared.http.concurrency import etag
from shared.http.pagination import Page
from shared.idempotency import replay


class ConditionLedgerEndpoints(CaseworkBase):
    @api("PATCH", "/v1/cases/<id>/conditions/<condition_id>", roles=WRITERS, body=ConditionPatchIn,
         response=ConditionOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["supervision"],
         summary="Edit a condition (description, required amount) or waive it (supervisor); the reason and the "
                 "fields before and after are kept in its history")
    def patch_condition(self, call: Call[ConditionPatchIn], id: str, condition_id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        row = conditions.condition_of(self.db, case, condition_id)
        self._match(call, etag(row.id, row.version))
        try:  # ConditionEditRefused: 409 condition-edit-refused; a case manager's waiver: 403 override-forbidden
            revision = conditions.edit_condition(self.db, case, row, call.body, actor=self._actor(call), now=utcnow())
        except OverrideNotPermitted:
            self.audit.record_now(call, "condition.waive", "condition", row.id, detail={"case_id": case.id},
                                  outcome="denied")
            raise
        out = conditions.condition_view(self.db, row)
        self.audit.record(call, f"condition.{revision.action}", "condition", row.id,
                          detail={"case_id": case.id, "fields": sorted(revision.changes), "version": row.version})
        self._commit()
        return ApiResponse(out, headers={"ETag": etag(row.id, row.version)})

    @api("GET", "/v1/cases/<id>/conditions/<condition_id>/history", person_data=True, roles=RECORD_READERS,
         response=list[ConditionRevisionOut], tags=["supervision"],
         summary="Every edit and waiver of a condition, oldest first")
    def condition_history(self, call: Call, id: str, condition_id: str) -> list[ConditionRevisionOut]:
        case = self._case(call, id)
        row = conditions.condition_of(self.db, case, condition_id, lock=False)
        out = [ConditionRevisionOut.model_validate(r, from_attributes=True) for r in conditions.history(self.db, row)]
        self.audit.record_now(call, "condition.history_read", "condition", row.id, detail={"case_id": case.id})
        return out

    @api("POST", "/v1/cases/<id>/conditions/<condition_id>/payments", roles=WRITERS, body=PaymentIn,
         response=PaymentOut, status=201, headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Record a payment toward a make-whole condition in dollars (the balance is derived from the "
                 "ledger; a payment over the balance is kept and shown as overpaid)")
    def add_payment(self, call: Call[PaymentIn], id: str, condition_id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        row = conditions.condition_of(self.db, case, condition_id)
        scope = f"payment:{row.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        payment = conditions.record_payment(self.db, case, row, call.body, by=call.actor, now=utcnow())
        self.audit.record(call, "condition.payment_recorded", "condition", row.id,
                          detail={"case_id": case.id, "payment_id": payment.id, "amount_cents": payment.amount_cents})
        return self._created(call, scope, payment_out(payment))

    @api("GET", "/v1/cases/<id>/conditions/<condition_id>/payments", person_data=True, roles=RECORD_READERS,
         query=LedgerQuery, response=Page[PaymentOut], tags=["supervision"],
         summary="Payments toward a condition, oldest first")
    def list_payments(self, call: Call[None, LedgerQuery], id: str, condition_id: str) -> Page[PaymentOut]:
        case = self._case(call, id)
        row = conditions.condition_of(self.db, case, condition_id, lock=False)
        rows, next_cursor = conditions.list_payments(self.db, call, row)
        items = [payment_out(p) for p in rows]
        self.audit.record_now(call, "condition.payments_listed", "condition", row.id,
                              detail={"case_id": case.id, "ids": [p.id for p in items]})
        return Page[PaymentOut](items=items, next_cursor=next_cursor)

    @api("POST", "/v1/cases/<id>/conditions/<condition_id>/hours", roles=WRITERS, body=HoursIn,
         response=HoursOut, status=201, headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Record community-service hours toward a make-whole condition in hours")
    def add_hours(self, call: Call[HoursIn], id: str, condition_id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        row = conditions.condition_of(self.db, case, condition_id)
        scope = f"hours:{row.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        entry = conditions.record_hours(self.db, case, row, call.body, by=call.actor, now=utcnow())
        self.audit.record(call, "condition.hours_recorded", "condition", row.id,
                          detail={"case_id": case.id, "hours_id": entry.id, "hours": str(entry.hours)})
        return self._created(call, scope, hours_out(entry))

    @api("GET", "/v1/cases/<id>/conditions/<condition_id>/hours", person_data=True, roles=RECORD_READERS,
         query=LedgerQuery, response=Page[HoursOut], tags=["supervision"],
         summary="Community-service hours toward a condition, oldest first")
    def list_hours(self, call: Call[None, LedgerQuery], id: str, condition_id: str) -> Page[HoursOut]:
        case = self._case(call, id)
        row = conditions.condition_of(self.db, case, condition_id, lock=False)
        rows, next_cursor = conditions.list_hours(self.db, call, row)
        items = [hours_out(h) for h in rows]
        self.audit.record_now(call, "condition.hours_listed", "condition", row.id,
                              detail={"case_id": case.id, "ids": [h.id for h in items]})
        return Page[HoursOut](items=items, next_cursor=next_cursor)
