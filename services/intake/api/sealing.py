"""Endpoints: sealing and erasure (ADR 0083) — the sealing ledger, a referral's disposition (readable even
when sealed) and a records officer's erasure order."""

from __future__ import annotations

from typing import Any

from services.intake.api.base import READ_ROLES, SEALED_READERS, IntakeBase, utcnow
from services.intake.models import SealingLedgerRow
from services.intake.sealing_schemas import DispositionOut, ErasureIn, LedgerEntryOut, LedgerQuery
from services.intake.usecases import erasure, referrals, sealing
from shared.http import Call, api
from shared.http.api import ApiResponse
from shared.http.pagination import Page, Pager
from shared.http.problems import BadRequest, Forbidden, NotFound
from shared.idempotency import remember, replay
from shared.messaging.signing import signing_key
from shared.records import tombstone_key
from shared.sealing import LegalBasisProblem, legal_basis

LEDGER_READERS = {"records_officer", "supervisor", "admin", "auditor"}


class SealingEndpoints(IntakeBase):

    @api("GET", "/v1/sealing-ledger", person_data=True, roles=LEDGER_READERS, query=LedgerQuery,
         response=Page[LedgerEntryOut],
         tags=["sealing"], summary="Sealing and erasure requests of the agency, newest first, with each service's "
                                   "confirmation (?state=pending|complete|missing|surfaced, ?referral_id=)")
    def list_sealing_ledger(self, call: Call[None, LedgerQuery]) -> Page[LedgerEntryOut]:
        query = call.query
        now = self.clock.now()
        pager = Pager(call, SealingLedgerRow.created_at.desc(), SealingLedgerRow.request_id.desc())
        rows = sealing.ledger_entries(self.db, call.agency, state=query.state, referral_id=query.referral_id,
                                      now=now, after=pager.where(), limit=pager.fetch)
        page, next_cursor = pager.page(rows, key=lambda row: (row.created_at, row.request_id))
        items = [LedgerEntryOut.model_validate(sealing.ledger_document(row, now)) for row in page]
        self.audit.record_now(call, "sealing_ledger.listed", "referral", None,
                              detail={"ids": [item.referral_id for item in items]})
        return Page[LedgerEntryOut](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/sealing-ledger/<request_id>", person_data=True, roles=LEDGER_READERS, response=LedgerEntryOut,
         tags=["sealing"],
         summary="One sealing or erasure request: which services confirmed, which are missing, retries, elapsed")
    def get_sealing_ledger_entry(self, call: Call, request_id: str) -> LedgerEntryOut:
        row = sealing.ledger_entry(self.db, call.agency, request_id)
        if row is None:
            raise NotFound("no such sealing ledger entry")
        self.audit.record_now(call, "sealing_ledger.read", "referral", row.referral_id,
                              detail={"request_id": row.request_id})
        return LedgerEntryOut.model_validate(sealing.ledger_document(row, self.clock.now()))

    @api("GET", "/v1/referrals/<referral_id>/disposition", person_data=True, roles=READ_ROLES | SEALED_READERS,
         response=DispositionOut, tags=["referrals"],
         summary="A referral's final action (status, disposition, when, case): readable even when it is sealed")
    def get_disposition(self, call: Call, referral_id: str) -> DispositionOut:
        row = referrals.get_referral(self.db, call.agency, referral_id) if len(referral_id) <= 36 else None
        if row is None:
            raise NotFound("no such referral")
        self.audit.record_now(call, "referral.disposition_read", "referral", row.id)
        return DispositionOut(referral_id=row.id, status=row.status, disposition=row.disposition,
                              disposed_at=row.disposed_at, case_id=row.case_id)

    @api("POST", "/v1/referrals/<referral_id>/erasure", roles={"records_officer"}, body=ErasureIn,
         response=LedgerEntryOut, status=202, headers=["X-Legal-Basis", "Idempotency-Key"], errors=[400, 409],
         tags=["sealing"],
         summary="Erase a referral's person on a legal order: intake deletes its rows (keeping keyed tombstones) "
                 "and asks every service to do the same; the answer is the erasure's ledger entry")
    def erase_referral(self, call: Call[ErasureIn], referral_id: str) -> ApiResponse:
        try:
            basis = legal_basis(self._roles(call), call.legal_basis)
        except LegalBasisProblem as exc:
            raise (BadRequest if exc.status == 400 else Forbidden)(exc.detail) from None
        replayed = replay(self.db, call, "referrals.erase")
        if replayed is not None:
            return replayed
        if len(referral_id) > 36:
            raise NotFound("no such referral")
        now = utcnow()
        key = tombstone_key(signing_key(self.ops.settings.common))
        entry, _ = erasure.erase_referral(self.db, self._emit, key, call.agency, referral_id, basis=basis, now=now)
        detail: dict[str, Any] = {"legal_basis": basis, "request_id": entry.request_id}
        self.audit.record(call, "referral.erased", "referral", referral_id, detail=detail)
        out = LedgerEntryOut.model_validate(sealing.ledger_document(entry, now))
        remember(self.db, call, "referrals.erase", 202, out)
        self.db.commit()
        return ApiResponse(out, status=202)
