"""Endpoints: conditions, contacts and check-ins, appointments and incidents of a case."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from services.casework.api.base import IDEMPOTENT, IF_MATCH, RECORD_READERS, WRITERS, CaseworkBase
from services.casework.domain import supervision
from services.casework.domain.appointments import AppointmentFieldsInvalid
from services.casework.mapping import appointment_out, contact_out, incident_out
from services.casework.schemas import (
    AppointmentIn,
    AppointmentOut,
    ConditionIn,
    ConditionMetIn,
    ConditionOut,
    ContactIn,
    ContactOut,
    ContactOutcomeIn,
    IncidentIn,
    IncidentOut,
    ProgressIn,
)
from services.casework.usecases import appointments, conditions, contacts, incidents
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, UnprocessableContent, api
from shared.http.concurrency import etag
from shared.idempotency import replay


class ConditionEndpoints(CaseworkBase):
    @api("POST", "/v1/cases/<id>/conditions", roles=WRITERS, body=ConditionIn, response=ConditionOut, status=201,
         headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Add a program condition (general, make-whole with an amount, or therapeutic)")
    def add_condition(self, call: Call[ConditionIn], id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        scope = f"condition:{case.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        body = call.body
        try:
            row = conditions.add_condition(self.db, case, body, now=utcnow())
        except ValidationError as exc:
            raise UnprocessableContent("the condition is invalid", errors=[
                {"field": "(body)", "message": str(e["msg"]), "type": e["type"]} for e in exc.errors()]) from None
        self.audit.record(call, "condition.created", "condition", row.id, detail={"case_id": case.id, "kind": row.kind})
        self.db.flush()
        return self._created(call, scope, conditions.condition_view(self.db, row), etag(row.id, row.version))

    @api("GET", "/v1/cases/<id>/conditions", person_data=True,
         roles=RECORD_READERS, response=list[ConditionOut], tags=["supervision"],
         summary="The case's conditions with progress")
    def list_conditions(self, call: Call, id: str) -> list[ConditionOut]:
        case = self._case(call, id)
        out = [conditions.condition_view(self.db, r) for r in conditions.list_conditions(self.db, case.id)]
        self.audit.record_now(call, "condition.listed", "case", case.id, detail={"ids": [c.id for c in out]})
        return out

    @api("GET", "/v1/cases/<id>/conditions/<condition_id>", person_data=True,
         roles=RECORD_READERS, response=ConditionOut,
         tags=["supervision"], summary="One condition, with its ETag")
    def get_condition(self, call: Call, id: str, condition_id: str) -> ApiResponse:
        case = self._case(call, id)
        row = conditions.condition_of(self.db, case, condition_id)
        self.audit.record_now(call, "condition.read", "condition", row.id, detail={"case_id": case.id})
        return ApiResponse(conditions.condition_view(self.db, row), headers={"ETag": etag(row.id, row.version)})

    def _change_condition(self, call: Call, id: str, condition_id: str,
                          change: Callable[[supervision.Condition], supervision.Condition], action: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        row = conditions.condition_of(self.db, case, condition_id)
        self._match(call, etag(row.id, row.version))
        conditions.change_condition(self.db, row, change)  # ConditionProgressError: 409 condition-progress
        out = conditions.condition_view(self.db, row)
        self.audit.record(call, action, "condition", row.id, detail={"case_id": case.id, "met": out.met})
        self._commit()
        return ApiResponse(out, headers={"ETag": etag(row.id, row.version)})

    @api("POST", "/v1/cases/<id>/conditions/<condition_id>/progress", roles=WRITERS, body=ProgressIn,
         response=ConditionOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["supervision"],
         summary="Record a payment or hours on a make-whole condition without details (the older form; the "
                 "payments and hours ledgers take method, receipt, site and verifier)")
    def record_condition_progress(self, call: Call[ProgressIn], id: str, condition_id: str) -> ApiResponse:
        body = call.body
        case = self._case(call, id, write=True)
        row = conditions.condition_of(self.db, case, condition_id)
        self._match(call, etag(row.id, row.version))
        conditions.record_progress(self.db, case, row, body.amount, on=body.on or utcnow().date(), by=call.actor,
                                   now=utcnow())  # ConditionProgressError: 409; LedgerEntryRefused: 422
        out = conditions.condition_view(self.db, row)
        self.audit.record(call, "condition.progress", "condition", row.id, detail={"case_id": case.id, "met": out.met})
        self._commit()
        return ApiResponse(out, headers={"ETag": etag(row.id, row.version)})

    @api("POST", "/v1/cases/<id>/conditions/<condition_id>/met", roles=WRITERS, body=ConditionMetIn,
         response=ConditionOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["supervision"],
         summary="Mark a general or therapeutic condition met")
    def mark_condition_met(self, call: Call[ConditionMetIn], id: str, condition_id: str) -> ApiResponse:
        body = call.body
        on = body.on or utcnow().date()
        return self._change_condition(call, id, condition_id,
                                      lambda c: supervision.mark_condition_met(c, on=on), "condition.met")


class VisitEndpoints(CaseworkBase):
    """Contacts, appointments and incidents."""

    @api("POST", "/v1/cases/<id>/contacts", roles=WRITERS, body=ContactIn, response=ContactOut, status=201,
         headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Schedule a check-in or record a completed contact")
    def add_contact(self, call: Call[ContactIn], id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        scope = f"contact:{case.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        row = contacts.add_contact(self.db, case, call.body)
        self.audit.record(call, "contact.created", "contact", row.id, detail={"case_id": case.id, "status": row.status})
        self.db.flush()
        return self._created(call, scope, contact_out(row), etag(row.id, row.version))

    @api("GET", "/v1/cases/<id>/contacts", person_data=True,
         roles=RECORD_READERS, response=list[ContactOut], tags=["supervision"],
         summary="Contacts and check-ins of a case, by scheduled time")
    def list_contacts(self, call: Call, id: str) -> list[ContactOut]:
        case = self._case(call, id)
        out = [contact_out(r) for r in contacts.list_contacts(self.db, case.id)]
        self.audit.record_now(call, "contact.listed", "case", case.id, detail={"ids": [c.id for c in out]})
        return out

    @api("POST", "/v1/cases/<id>/contacts/<contact_id>/outcome", roles=WRITERS, body=ContactOutcomeIn,
         response=ContactOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["supervision"],
         summary="Record that a scheduled check-in was completed, missed or cancelled")
    def contact_outcome(self, call: Call[ContactOutcomeIn], id: str, contact_id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        row = contacts.contact_of(self.db, case, contact_id)
        self._match(call, etag(row.id, row.version))
        body = call.body
        contacts.record_outcome(row, body, now=utcnow())  # ContactAlreadySettled: 409 contact-settled
        self.audit.record(call, f"contact.{body.status}", "contact", row.id, detail={"case_id": case.id})
        self._commit()
        return ApiResponse(contact_out(row), headers={"ETag": etag(row.id, row.version)})

    @api("POST", "/v1/cases/<id>/appointments", roles=WRITERS, body=AppointmentIn, response=AppointmentOut,
         status=201, headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Schedule an appointment; publishes appointment.scheduled so the participant is reminded")
    def add_appointment(self, call: Call[AppointmentIn], id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        scope = f"appointment:{case.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        try:
            row = appointments.add_appointment(self.db, self._emit, case, call.body)
        except supervision.AppointmentEndsBeforeStart as exc:
            raise UnprocessableContent(str(exc), errors=[
                {"field": "ends_at", "message": "must be after starts_at", "type": "value_error"}]) from None
        except AppointmentFieldsInvalid as exc:
            raise UnprocessableContent(str(exc), errors=exc.errors) from None
        self.audit.record(call, "appointment.scheduled", "appointment", row.id,
                          detail={"case_id": case.id, "kind": row.kind})
        self.db.flush()
        return self._created(call, scope, appointment_out(row), etag(row.id, row.version))

    @api("GET", "/v1/cases/<id>/appointments", person_data=True,
         roles=RECORD_READERS, response=list[AppointmentOut], tags=["supervision"],
         summary="Appointments of a case, by start time")
    def list_appointments(self, call: Call, id: str) -> list[AppointmentOut]:
        case = self._case(call, id)
        out = [appointment_out(r) for r in appointments.list_appointments(self.db, case.id)]
        self.audit.record_now(call, "appointment.listed", "case", case.id, detail={"ids": [a.id for a in out]})
        return out

    @api("POST", "/v1/cases/<id>/incidents", roles=WRITERS, body=IncidentIn, response=IncidentOut, status=201,
         headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Record an incident and the graduated response (default: the suggested next step)")
    def add_incident(self, call: Call[IncidentIn], id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        scope = f"incident:{case.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        row = incidents.add_incident(self.db, case, call.body, by=call.actor, now=utcnow())
        self.audit.record(call, "incident.created", "incident", row.id,
                          detail={"case_id": case.id, "kind": row.kind, "response": row.response})
        self.db.flush()
        return self._created(call, scope, incident_out(row))

    @api("GET", "/v1/cases/<id>/incidents", person_data=True,
         roles=RECORD_READERS, response=list[IncidentOut], tags=["supervision"],
         summary="Incidents of a case and the responses taken")
    def list_incidents(self, call: Call, id: str) -> list[IncidentOut]:
        case = self._case(call, id)
        out = [incident_out(r) for r in incidents.list_incidents(self.db, case.id)]
        self.audit.record_now(call, "incident.listed", "case", case.id, detail={"ids": [i.id for i in out]})
        return out
