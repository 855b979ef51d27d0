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
    NotFound,
)
from shared.messaging import CloudEvent, Outbox
from shared.service import Operations

READ_ROLES = {"screener", "supervisor", "auditor", "case_manager", "admin"}
REFERRAL_READERS = {"screener", "supervisor", "auditor"}
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
        row = referrals.get_referral(self.db, call.agency, referral_id, for_update=for_update) \
            if len(referral_id) <= 36 else None
        if row is None:
            raise NotFound("no such referral")
        return row

    def _detail(self, row: Any, status: int = 200) -> ApiResponse:
        out = ReferralOut.model_validate(referrals.referral_document(self.db, row))
        return ApiResponse(out, status=status, headers={"ETag": etag(row.id, row.version)})

