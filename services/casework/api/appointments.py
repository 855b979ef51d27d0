"""Endpoints: one appointment of a case, and its reschedule or cancellation (If-Match)."""

from __future__ import annotations

from services.casework.api.base import IF_MATCH, RECORD_READERS, WRITERS, CaseworkBase
from services.casework.domain.appointments import AppointmentFieldsInvalid
from services.casework.mapping import appointment_out
from services.casework.schemas import AppointmentOut, AppointmentPatch
from services.casework.usecases import appointments
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, UnprocessableContent, api
from shared.http.concurrency import etag


class AppointmentEndpoints(CaseworkBase):
    @api("GET", "/v1/cases/<id>/appointments/<appointment_id>", person_data=True, roles=RECORD_READERS,
         response=AppointmentOut, tags=["supervision"], summary="One appointment (a hearing with its court fields), "
                                                               "with its ETag")
    def get_appointment(self, call: Call, id: str, appointment_id: str) -> ApiResponse:
        case = self._case(call, id)
        row = appointments.appointment_of(self.db, case, appointment_id)
        self.audit.record_now(call, "appointment.read", "appointment", row.id, detail={"case_id": case.id})
        return ApiResponse(appointment_out(row), headers={"ETag": etag(row.id, row.version)})

    @api("PATCH", "/v1/cases/<id>/appointments/<appointment_id>", roles=WRITERS, body=AppointmentPatch,
         response=AppointmentOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["supervision"],
         summary="Reschedule (`action: reschedule`, starts_at, ends_at, location) or cancel (`action: cancel` "
                 "with a reason); the reminders follow")
    def change_appointment(self, call: Call[AppointmentPatch], id: str, appointment_id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        row = appointments.appointment_of(self.db, case, appointment_id, lock=True)
        self._match(call, etag(row.id, row.version))
        previous = row.starts_at
        try:
            # CaseClosed, AppointmentNotChangeable: 409
            action = appointments.change_appointment(self.db, self._emit, case, row, call.body, now=utcnow())
        except AppointmentFieldsInvalid as exc:
            raise UnprocessableContent(str(exc), errors=exc.errors) from None
        detail: dict[str, object] = {"case_id": case.id, "reason": call.body.reason}
        if action == "appointment.rescheduled":
            detail.update(previous_starts_at=previous.isoformat(), starts_at=row.starts_at.isoformat())
        self.audit.record(call, action, "appointment", row.id, detail=detail)
        self._commit()
        return ApiResponse(appointment_out(row), headers={"ETag": etag(row.id, row.version)})
