"""What every casework endpoint mixin shares: the roles, the dependencies' types, access and commit helpers."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.casework.domain import lifecycle
from services.casework.models import CaseRecord, Participant
from services.casework.settings import CaseworkSettings
from services.casework.usecases import cases
from shared.extensions import AuditLog
from shared.http import ApiResponse, Call, Forbidden, PreconditionFailed
from shared.http.concurrency import require_if_match
from shared.idempotency import remember
from shared.messaging import Outbox
from shared.messaging.envelope import CloudEvent

READERS = {"case_manager", "supervisor", "auditor", "admin"}
WRITERS = {"case_manager", "supervisor"}
SUPERVISORS = {"supervisor"}
REPORT_READERS = {"supervisor", "auditor", "admin"}
WHOLE_AGENCY = {"supervisor", "auditor", "admin"}
IF_MATCH = ["If-Match"]
IDEMPOTENT = ["Idempotency-Key"]


class CaseworkBase:
    """The dependencies `CaseworkService` declares, and the helpers its endpoints share."""

    name: ClassVar[str]
    db: Session
    outbox: Outbox
    context: dict[str, Any]
    settings: CaseworkSettings
    audit: AuditLog

    def _emit(self, event: CloudEvent[Any]) -> None:
        self.outbox.record(self.db, event)

    @staticmethod
    def _roles(call: Call) -> frozenset[str]:
        return call.identity.roles if call.identity else frozenset()

    def _actor(self, call: Call) -> lifecycle.Actor:
        return lifecycle.Actor(subject=call.actor, roles=self._roles(call))

    def _case(self, call: Call, case_id: str, *, write: bool = False) -> CaseRecord:
        """The caller's agency's case (404 otherwise), locked for update when writing; case managers reach
        only their own caseload."""
        row = cases.case_row(self.db, call.agency, case_id, lock=write)
        roles = self._roles(call)
        if write and not roles & WRITERS:
            raise Forbidden("this action needs the role case_manager or supervisor")
        if not roles & WHOLE_AGENCY and not cases.on_caseload(self.db, call.agency, call.actor, row):
            self.audit.record_now(call, "case.access", "case", row.id, detail={"reason": "not on caseload"},
                                  outcome="denied")
            raise Forbidden("this case is not on your caseload")
        return row

    def _participant(self, call: Call, participant_id: str, write: bool = False) -> Participant:
        person = cases.participant_row(self.db, call.agency, participant_id)
        case = cases.case_of_participant(self.db, call.agency, person.id)
        if case is not None:
            self._case(call, case.id, write=False)  # same caseload rule as the case
        if write and not self._roles(call) & WRITERS:
            raise Forbidden("this action needs the role case_manager or supervisor")
        return person

    def _match(self, call: Call, current: str) -> None:
        require_if_match(call, current)

    def _commit(self) -> None:
        try:
            self.db.commit()
        except IntegrityError:
            # Someone saved the same next version first (plan) or the same key: the caller's copy is stale.
            self.db.rollback()
            raise PreconditionFailed("someone changed this resource at the same moment; read it again") from None

    def _created(self, call: Call, scope: str, body: BaseModel, tag: str | None = None) -> ApiResponse:
        remember(self.db, call, scope, 201, body)
        self._commit()
        return ApiResponse(body, status=201, headers={"ETag": tag} if tag else {})
