"""Endpoints: referrals — submission (one or a batch), the lists and the review queue, reads, re-screening,
decisions and judgements."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.intake.api.base import (
    BATCH_BODY_LIMIT,
    DECIDERS,
    REFERRAL_READERS,
    SEALED_READERS,
    IntakeBase,
    utcnow,
)
from services.intake.models import ReferralRow
from services.intake.schemas import (
    BatchIn,
    BatchOut,
    DecisionIn,
    JudgementIn,
    PersonName,
    ReferralOut,
    ReferralQuery,
    ReferralSubmission,
    ReferralSummary,
)
from services.intake.usecases import decisions, referrals, rulesets, submissions
from services.intake.usecases import review as queue
from shared.http import Call, api
from shared.http.api import ApiResponse
from shared.http.concurrency import etag, require_if_match
from shared.http.pagination import Page, Pager
from shared.http.problems import (
    Conflict,
    PreconditionFailed,
    UnprocessableContent,
)
from shared.idempotency import remember, replay
from shared.records import sealed_ids


class ReferralEndpoints(IntakeBase):

    @api("POST", "/v1/referrals", roles={"screener"}, body=ReferralSubmission, response=ReferralOut, status=201,
         headers=["Idempotency-Key"], errors=[409], tags=["referrals"],
         summary="Submit a referral; it is screened against every program of the agency's ruleset")
    def submit_referral(self, call: Call[ReferralSubmission]) -> ApiResponse:
        replayed = replay(self.db, call, "referrals.create")
        if replayed is not None:
            return replayed
        ruleset, _ = rulesets.current_ruleset(self.db, call.agency)
        created = submissions.submit_referral(self.db, call.agency, call.body, ruleset, call.actor,
                                    today=dt.date.today(), now=utcnow())
        self.audit.record(call, "referral.created", "referral", created.id, detail=_created_detail(created))
        self._guard(call, created.id)  # as every read of a referral (a new id is never sealed)
        # Answered from the rows just written, as GET would read them back.
        row, document = referrals.new_referral_document(self.db, created)
        response = self._answer(row, document, status=201)
        remember(self.db, call, "referrals.create", 201, response.body)
        try:
            self.db.commit()
        except IntegrityError:
            # The same Idempotency-Key or external_id committed at the same moment: answer like a retry.
            self.db.rollback()
            replayed = replay(self.db, call, "referrals.create")
            if replayed is not None:
                return replayed
            raise Conflict("a referral with this external_id was stored at the same moment") from None
        return response

    @api("POST", "/v1/referrals:batch", roles={"screener"}, body=BatchIn, response=BatchOut,
         max_body_bytes=BATCH_BODY_LIMIT, bulk=True, errors=[409], tags=["referrals"],
         summary="Submit up to 500 referrals; per-item results; an item already stored (external_id, else "
                 "case number + date of birth) is not created again")
    def submit_batch(self, call: Call) -> BatchOut:
        ruleset, _ = rulesets.current_ruleset(self.db, call.agency)
        self.db.rollback()  # that read is over: validation and screening hold no transaction open
        prepared = submissions.prepare_batch(call.body, ruleset, today=dt.date.today())
        for attempt in (1, 2):
            out, created = submissions.store_batch(self.db, call.agency, prepared, call.actor, now=utcnow())
            if created:
                # One row for the whole batch (naming every id): 500 single-row inserts cost more than the batch.
                self.audit.record(call, "referral.batch_created", "referral", None,
                                  detail={"ids": [made.id for made in created], "ruleset_version": ruleset.version})
            try:
                self.db.commit()
                return out
            except IntegrityError:
                # A concurrent run stored some of the same items first: the second pass finds them.
                self.db.rollback()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @api("GET", "/v1/referrals", person_data=True, headers=["X-Legal-Basis"],
         roles=REFERRAL_READERS | SEALED_READERS, query=ReferralQuery, response=Page[ReferralSummary],
         tags=["referrals"], summary="Referrals of the agency, newest first (filter by status, program, dates)")
    def list_referrals(self, call: Call[None, ReferralQuery]) -> Page[ReferralSummary]:
        query = call.query
        if query.needs == "review":
            return self._review_queue(call, query)
        basis = self._lists_sealed(call)
        pager = Pager(call, ReferralRow.received_at.desc(), ReferralRow.id.desc())
        rows = referrals.list_referrals(self.db, call.agency, status=query.status, program=query.program,
                                received_from=query.received_from, received_to=query.received_to,
                                after=pager.after, limit=pager.fetch, include_sealed=basis is not None)
        page, next_cursor = pager.page(rows, key=lambda pair: (pair[0].received_at, pair[0].id))
        items = [_summary(r, d) for r, d in page]
        self.audit.record_now(call, "referral.listed", "referral", None, detail={"ids": [i.id for i in items]})
        self._audit_sealed_listed(call, basis, [i.id for i in items])
        return Page[ReferralSummary](items=items, next_cursor=next_cursor)

    def _audit_sealed_listed(self, call: Call, basis: str | None, ids: list[str]) -> None:
        """Each sealed referral a records officer's list showed is an opening of its own, audited with the code."""
        if basis is None:
            return
        for referral_id in sorted(sealed_ids(self.db, call.agency, referrals.SEALED_KIND, ids)):
            self.audit.record_now(call, "sealed_record.opened", "referral", referral_id,
                                  detail={"legal_basis": basis})

    def _review_queue(self, call: Call, query: ReferralQuery) -> Page[ReferralSummary]:
        if query.status not in (None, "screened") or query.received_from or query.received_to:
            raise UnprocessableContent("needs=review lists screened referrals in queue order; it takes only "
                                       "program, limit and cursor", slug="invalid-query",
                                       errors=[{"field": "needs", "message": "combined with a filter it ignores",
                                                "type": "value_error"}])
        basis = self._lists_sealed(call)
        pager = Pager(call, ReferralRow.review_since, ReferralRow.id)
        rows = referrals.list_review_queue(self.db, call.agency, program=query.program,
                                   after=pager.after, limit=pager.fetch, include_sealed=basis is not None)
        page, next_cursor = pager.page(rows, key=lambda pair: (pair[0].review_since, pair[0].id))
        items = [_summary(r, d) for r, d in page]
        self.audit.record_now(call, "referral.listed", "referral", None,
                              detail={"ids": [i.id for i in items], "needs": "review"})
        self._audit_sealed_listed(call, basis, [i.id for i in items])
        return Page[ReferralSummary](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/referrals/<referral_id>", person_data=True, headers=["X-Legal-Basis"], errors=[400],
         roles=REFERRAL_READERS | SEALED_READERS, response=ReferralOut, tags=["referrals"],
         summary="A referral with its screenings, decisions, disposition and possible duplicates (a sealed one "
                 "only for a records officer naming a RSMo 610.120 code in X-Legal-Basis)")
    def get_referral(self, call: Call, referral_id: str) -> ApiResponse:
        row = self._referral(call, referral_id)
        self.audit.record_now(call, "referral.read", "referral", row.id)
        return self._detail(row, include_sealed=self._lists_sealed(call) is not None)

    @api("POST", "/v1/referrals/<referral_id>/rescreen", roles={"supervisor"}, response=ReferralOut,
         headers=["If-Match"], errors=[409, 412], tags=["referrals"],
         summary="Screen again under the agency's current pack; earlier screenings are kept")
    def rescreen_referral(self, call: Call, referral_id: str) -> ApiResponse:
        row = self._referral(call, referral_id, for_update=True)
        if call.if_match:
            require_if_match(call, etag(row.id, row.version))
        ruleset, _ = rulesets.current_ruleset(self.db, call.agency)
        result = referrals.rescreen(self.db, row, ruleset, call.actor, today=dt.date.today(), now=utcnow())
        self.audit.record(call, "referral.rescreened", "referral", row.id,
                          detail={"ruleset_version": result.ruleset_version,
                                  "recommendation": result.recommendation.value})
        self.db.commit()
        return self._detail(row)

    @api("POST", "/v1/referrals/<referral_id>/decision", roles=DECIDERS, body=DecisionIn, response=ReferralOut,
         required_headers=["If-Match"], errors=[409, 412, 428], tags=["referrals"],
         summary="Accept (eligible programs; a supervisor may override), decline or defer; needs If-Match")
    def decide_referral(self, call: Call[DecisionIn], referral_id: str) -> ApiResponse:
        row = self._referral(call, referral_id, for_update=True)
        require_if_match(call, etag(row.id, row.version))
        known = referrals.Known()  # what deciding reads (screenings, judgements) is not read again to answer
        decision = decisions.decide(self.db, self._emit, row, call.body, self._actor(call), today=dt.date.today(),
                                    now=utcnow(), known=known)
        detail: dict[str, Any] = {"program": decision.program, "reason_code": decision.reason_code}
        if decision.deferred_until:
            detail["deferred_until"] = decision.deferred_until.isoformat()
        self.audit.record(call, f"referral.{decision.status.value}", "referral", row.id, detail=detail)
        if decision.override:
            # A permission use of its own: the supervisor set the screening aside.
            self.audit.record(call, "referral.override", "referral", row.id,
                              detail={"program": decision.program, "reason_code": decision.reason_code})
        # The answer is read in the deciding transaction (the row is locked: it is what commits), not in a
        # second one after it.
        response = self._detail(row, known=known)
        try:
            self.db.commit()
        except IntegrityError:
            self.db.rollback()
            raise PreconditionFailed("someone changed this referral at the same moment; read it again") from None
        return response

    @api("POST", "/v1/referrals/<referral_id>/judgements", roles=DECIDERS, body=JudgementIn, response=ReferralOut,
         status=201, headers=["If-Match"], errors=[409, 412], tags=["referrals"],
         summary="A screener's judgement on a program awaiting one (a new screening; the earlier one is kept) "
                 "or on a possible duplicate; the referral leaves the review queue when nothing else waits")
    def judge_referral(self, call: Call[JudgementIn], referral_id: str) -> ApiResponse:
        row = self._referral(call, referral_id, for_update=True)
        if call.if_match:
            require_if_match(call, etag(row.id, row.version))
        judgement = queue.record_judgement(self.db, row, call.body, self._actor(call), today=dt.date.today(),
                                           now=utcnow())
        self.audit.record(call, f"referral.judged.{judgement.kind}", "referral", row.id,
                          detail={"program": judgement.program, "outcome": judgement.outcome,
                     "screening_id": judgement.screening_id})
        try:
            self.db.commit()
        except IntegrityError:
            self.db.rollback()
            raise PreconditionFailed("someone changed this referral at the same moment; read it again") from None
        return self._detail(row, status=201)



def _summary(r: Any, d: Any) -> ReferralSummary:
    """A referral row and its defendant row as a list item (the list and the review queue alike)."""
    return ReferralSummary(
        id=r.id, status=r.status, source=r.source, case_number=r.case_number, external_id=r.external_id,
        received_at=r.received_at,
        defendant=PersonName(first_name=d.first_name, last_name=d.last_name, date_of_birth=d.date_of_birth),
        recommendation=r.recommendation, eligible_programs=[p for p in r.eligible_programs.split(",") if p],
        program=r.program, deferred_until=r.deferred_until, disposition=r.disposition, **referrals.review_state(r),
    )


def _created_detail(created: submissions.Created) -> dict[str, Any]:
    return {"recommendation": created.screening.recommendation.value,
            "ruleset_version": created.screening.ruleset_version}

