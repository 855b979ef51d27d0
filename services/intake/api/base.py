"""What every intake endpoint mixin shares: the roles, the dependencies' types and the helpers."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from services.intake.domain import decisions as rules
from services.intake.extensions import Clock
from services.intake.schemas import (
    ReferralOut,
)
from services.intake.settings import IntakeSettings
from services.intake.usecases import referrals
from shared.extensions import AuditLog
from shared.http import Call
from shared.http.api import ApiResponse
from shared.http.concurrency import etag
from shared.http.problems import (
    BadRequest,
    Forbidden,
    NotFound,
)
from shared.messaging import CloudEvent, Outbox
from shared.records import SealedRecord, guard_read, may_list_sealed
from shared.sealing import RECORDS_OFFICER, LegalBasisProblem
from shared.service import Operations

READ_ROLES = {"screener", "supervisor", "auditor", "case_manager", "admin"}
REFERRAL_READERS = {"screener", "supervisor", "auditor"}
SEALED_READERS = {RECORDS_OFFICER}  # opens a sealed referral naming a RSMo 610.120 code (X-Legal-Basis)
DECIDERS = {"screener", "supervisor"}
REPORT_READERS = {"supervisor", "auditor"}
BATCH_BODY_LIMIT = 8 * 1_048_576


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class IntakeBase:
    """The dependencies `IntakeService` declares, and the helpers its endpoints share."""

    name: ClassVar[str]
    db: Session
    outbox: Outbox
    event_context: dict[str, Any]
    clock: Clock
    settings: IntakeSettings
    audit: AuditLog
    ops: Operations


    def _emit(self, event: CloudEvent) -> None:
        self.outbox.record(self.db, event)

    def _actor(self, call: Call) -> rules.Actor:
        return rules.Actor(subject=call.actor, roles=call.identity.roles if call.identity else frozenset())

    def _referral(self, call: Call, referral_id: str, *, for_update: bool = False) -> Any:
        """The caller's referral; a sealed one only for a records officer naming a legal basis (the opening is
        audited), else the same 404 as a nonexistent id (ADR 0083)."""
        row = referrals.get_referral(self.db, call.agency, referral_id, for_update=for_update) \
            if len(referral_id) <= 36 else None
        if row is None:
            raise NotFound("no such referral")
        self._guard(call, row.id)
        return row

    def _guard(self, call: Call, referral_id: str) -> None:
        """A sealed referral only for a records officer naming a legal basis (the opening audited), else 404."""
        try:
            basis = guard_read(self.db, self._roles(call), call.legal_basis, call.agency, referrals.SEALED_KIND,
                               referral_id)
        except SealedRecord:
            raise NotFound("no such referral") from None
        except LegalBasisProblem as exc:
            raise (BadRequest if exc.status == 400 else Forbidden)(
                exc.detail, slug="legal-basis-required" if exc.status == 400 else "forbidden") from None
        if basis is not None:
            self.audit.record_now(call, "sealed_record.opened", "referral", referral_id,
                                  detail={"legal_basis": basis})

    @staticmethod
    def _roles(call: Call) -> frozenset[str]:
        return call.identity.roles if call.identity else frozenset()

    def _lists_sealed(self, call: Call) -> str | None:
        """The legal basis under which a records officer's list shows sealed referrals too (None: it does not)."""
        return may_list_sealed(self._roles(call), call.legal_basis)

    def _detail(self, row: Any, status: int = 200, *, include_sealed: bool = False,
                known: referrals.Known | None = None) -> ApiResponse:
        """The referral as GET shows it; `known`: the parts this request already has (not read again)."""
        document = referrals.referral_document(self.db, row, include_sealed=include_sealed, known=known)
        return self._answer(row, document, status)

    @staticmethod
    def _answer(row: Any, document: dict[str, Any], status: int = 200) -> ApiResponse:
        return ApiResponse(ReferralOut.model_validate(document), status=status,
                           headers={"ETag": etag(row.id, row.version)})

