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
from services.casework.usecases.common import Missing
from shared.extensions import AuditLog
from shared.http import ApiResponse, Call, Forbidden, PreconditionFailed
from shared.http.concurrency import require_if_match
from shared.http.problems import BadRequest
from shared.idempotency import remember
from shared.messaging import Outbox
from shared.messaging.envelope import CloudEvent
from shared.records import SealedRecord, guard_read, is_sealed, may_list_sealed, sealed_ids
from shared.sealing import RECORDS_OFFICER, LegalBasisProblem

READERS = {"case_manager", "supervisor", "auditor", "admin"}
# The reads of a case or a participant and their parts: a records officer opens a sealed one with X-Legal-Basis.
RECORD_READERS = READERS | {RECORDS_OFFICER}
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

    def _unsealed(self, call: Call, kind: str, record_id: str, *, write: bool, missing: str) -> None:
        """The one rule of sealed records (ADR 0083): 404 exactly as if absent for ordinary roles and for every
        write; a records officer reads one with a RSMo 610.120 code in X-Legal-Basis (400 without), audited."""
        if write:
            if is_sealed(self.db, call.agency, kind, record_id):
                raise Missing(missing)
            return
        try:
            basis = guard_read(self.db, self._roles(call), call.legal_basis, call.agency, kind, record_id)
        except SealedRecord:
            raise Missing(missing) from None
        except LegalBasisProblem as exc:
            raise (BadRequest(exc.detail) if exc.status == 400 else Forbidden(exc.detail)) from None
        if basis is not None:
            self.audit.record_now(call, "sealed_record.opened", kind, record_id, detail={"legal_basis": basis})

    def _list_sealed(self, call: Call) -> bool:
        """Whether this caller's lists show sealed rows too: a records officer naming a valid legal basis."""
        return may_list_sealed(self._roles(call), call.legal_basis) is not None

    def _visible(self, call: Call, participant_ids: list[str]) -> list[str]:
        """A linked person's records (ADR 0071) without the sealed ones, unless the caller may list them."""
        if self._list_sealed(call):
            return participant_ids
        hidden = sealed_ids(self.db, call.agency, "participant", participant_ids)
        return [pid for pid in participant_ids if pid not in hidden]

    def _case(self, call: Call, case_id: str, *, write: bool = False) -> CaseRecord:
        """The caller's agency's case (404 otherwise, and when sealed: `_unsealed`), locked for update when
        writing; case managers reach only their own caseload, a records officer reads the whole agency."""
        row = cases.case_row(self.db, call.agency, case_id, lock=write)
        self._unsealed(call, "case", row.id, write=write, missing="no such case")
        roles = self._roles(call)
        if write and not roles & WRITERS:
            raise Forbidden("this action needs the role case_manager or supervisor")
        if not roles & (WHOLE_AGENCY | {RECORDS_OFFICER}) and not cases.on_caseload(self.db, call.agency, call.actor,
                                                                                     row):
            self.audit.record_now(call, "case.access", "case", row.id, detail={"reason": "not on caseload"},
                                  outcome="denied")
            raise Forbidden("this case is not on your caseload")
        return row

    def _participant(self, call: Call, participant_id: str, write: bool = False) -> Participant:
        person = cases.participant_row(self.db, call.agency, participant_id)
        self._unsealed(call, "participant", person.id, write=write, missing="no such participant")
        case = cases.case_of_participant(self.db, call.agency, person.id)
        if case is not None:
            try:  # same caseload rule as the case
                self._case(call, case.id, write=False)
            except Missing:
                raise Missing("no such participant") from None
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
