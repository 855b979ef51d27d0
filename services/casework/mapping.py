"""casework's mappers: table rows to domain objects and back, and rows to the HTTP schemas.

Plain functions, no session: the use cases load and store rows, these only translate them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from services.casework.domain import conditions as condition_rules
from services.casework.domain import consent as consent_rules
from services.casework.domain import goals, plan, reports, supervision
from services.casework.domain.appointments import AppointmentKind, kind_of
from services.casework.domain.assignment import CaseManager
from services.casework.domain.lifecycle import Case, CaseState, Disposition, ProgramTerms, SupervisorOverride
from services.casework.models import (
    AppointmentRecord,
    Assessment,
    CaseRecord,
    ConditionHours,
    ConditionPayment,
    ConditionRecord,
    ConsentRecord,
    ContactRecord,
    IncidentRecord,
    Participant,
    PlanVersion,
    Staff,
)
from services.casework.schemas import (
    AppointmentOut,
    AssessmentOut,
    CaseSummary,
    ConditionOut,
    ConsentOut,
    ContactOut,
    DomainAssessmentIn,
    GoalOut,
    HoursOut,
    IncidentOut,
    PaymentOut,
    PlanOut,
    SignatureIn,
)

# ---------------------------------------------------------------- cases


def terms_of(row: CaseRecord) -> ProgramTerms:
    return ProgramTerms(program_id=row.program_id, min_months=row.min_months, max_months=row.max_months)


def to_case(row: CaseRecord) -> Case:
    return Case(
        id=row.id, agency_id=row.agency_id, referral_id=row.referral_id, participant_id=row.participant_id,
        program_id=row.program_id, state=CaseState(row.state), case_manager_id=row.case_manager_id,
        referred_on=row.referred_on, opened_on=row.opened_on, start_date=row.start_date,
        expected_end_date=row.expected_end_date, closed_on=row.closed_on,
        disposition=Disposition(row.disposition) if row.disposition else None,
        termination_reason=row.termination_reason, withdrawal_reason=row.withdrawal_reason,
        override=SupervisorOverride.model_validate(row.override) if row.override else None,
        extensions=row.extensions, version=row.version,
    )


def store_case(row: CaseRecord, case: Case, now: dt.datetime) -> None:
    """Copy a domain case's changes onto its row (the domain bumped `version`)."""
    row.state = case.state.value
    row.case_manager_id = case.case_manager_id
    row.start_date = case.start_date
    row.expected_end_date = case.expected_end_date
    row.closed_on = case.closed_on
    row.disposition = case.disposition.value if case.disposition else None
    row.termination_reason = case.termination_reason
    row.withdrawal_reason = case.withdrawal_reason
    row.override = case.override.model_dump() if case.override else None
    row.extensions = case.extensions
    row.version = case.version
    row.updated_at = now


def case_summary(row: CaseRecord) -> CaseSummary:
    return CaseSummary(id=row.id, referral_id=row.referral_id, case_number=row.case_number,
                       participant_id=row.participant_id, program_id=row.program_id,
                       state=CaseState(row.state), case_manager_id=row.case_manager_id,
                       opened_on=row.opened_on, start_date=row.start_date,
                       expected_end_date=row.expected_end_date, closed_on=row.closed_on, version=row.version)


def case_manager(member: Staff) -> CaseManager:
    return CaseManager(id=member.id, agency_id=member.agency_id, name=member.name, programs=frozenset(member.programs),
                       active=member.active, caseload_cap=member.caseload_cap)


def report_row(case: CaseRecord, person: Participant) -> reports.CaseRow:
    return reports.CaseRow(case_id=case.id, program_id=case.program_id, state=CaseState(case.state),
                           case_manager_id=case.case_manager_id, race=person.race, ethnicity=person.ethnicity,
                           sex=person.sex, age_at_referral=person.age_at_referral, referred_on=case.referred_on,
                           opened_on=case.opened_on, start_date=case.start_date, closed_on=case.closed_on)


# ---------------------------------------------------------------- assessments and plans


def plan_from_row(row: PlanVersion) -> plan.SupportPlan:
    return plan.SupportPlan(case_id=row.case_id, agency_id=row.agency_id, version=row.version,
                            goals=[plan.Goal.model_validate(g) for g in row.goals], updated_on=row.updated_on,
                            updated_by=row.updated_by)


def plan_out(current: plan.SupportPlan, priorities: Sequence[plan.NeedDomain] = ()) -> PlanOut:
    """`priorities`: the latest assessment's priority domains, to show which have no goal yet."""
    return PlanOut(case_id=current.case_id, version=current.version,
                   goals=[GoalOut.model_validate(g.model_dump()) for g in current.goals],
                   updated_on=current.updated_on, updated_by=current.updated_by, priorities=list(priorities),
                   priorities_without_goal=goals.priorities_without_goal(current, priorities))


def assessment_out(record: Assessment) -> AssessmentOut:
    domains = [plan.DomainAssessment.model_validate(d) for d in record.domains]
    needs = plan.NeedsAssessment(case_id=record.case_id, assessed_on=record.assessed_on,
                                 assessed_by=record.assessed_by, domains=domains)
    return AssessmentOut(id=record.id, version=record.version, assessed_on=record.assessed_on,
                         assessed_by=record.assessed_by,
                         domains=[DomainAssessmentIn.model_validate(d.model_dump()) for d in domains],
                         priorities=[d.domain.value for d in needs.priorities()])


# ---------------------------------------------------------------- conditions


def condition_domain(row: ConditionRecord) -> supervision.Condition:
    """The condition as stored; a make-whole one's progress comes from its ledger (`conditions.with_ledger`)."""
    make_whole = row.kind == supervision.ConditionKind.MAKE_WHOLE.value
    return supervision.Condition(
        id=row.id, case_id=row.case_id, kind=supervision.ConditionKind(row.kind), description=row.description,
        unit=supervision.MakeWholeUnit(row.unit) if row.unit else None, required_amount=row.required_amount,
        met=False if make_whole else row.met, met_on=None if make_whole else row.met_on,
    )


def condition_waiver(row: ConditionRecord) -> condition_rules.Waiver | None:
    if row.waived_on is None:
        return None
    return condition_rules.Waiver(waived_on=row.waived_on, waived_by=row.waived_by or "",
                                  reason=row.waiver_reason or "(no reason recorded)")


def condition_row(domain: supervision.Condition, agency_id: str, created_at: dt.datetime) -> ConditionRecord:
    return ConditionRecord(id=domain.id, agency_id=agency_id, case_id=domain.case_id, kind=domain.kind.value,
                           description=domain.description, unit=domain.unit.value if domain.unit else None,
                           required_amount=domain.required_amount, met=False, version=1, created_at=created_at)


def condition_out(row: ConditionRecord, domain: supervision.Condition) -> ConditionOut:
    """`domain`: the condition with its ledger applied."""
    made_whole = domain.kind is supervision.ConditionKind.MAKE_WHOLE
    return ConditionOut(id=row.id, case_id=row.case_id, kind=domain.kind, description=domain.description,
                        unit=domain.unit, required_amount=domain.required_amount,
                        completed_amount=domain.completed_amount.quantize(condition_rules.CENT),
                        remaining=domain.remaining.quantize(condition_rules.CENT) if domain.remaining is not None
                        else None,
                        overpaid=condition_rules.overpaid(domain) if made_whole else None,
                        percent_complete=domain.percent_complete, met=domain.met, met_on=domain.met_on,
                        waived=row.waived_on is not None, waived_on=row.waived_on, waived_by=row.waived_by,
                        waiver_reason=row.waiver_reason, version=row.version)


def payment_out(row: ConditionPayment) -> PaymentOut:
    return PaymentOut(id=row.id, condition_id=row.condition_id, paid_on=row.paid_on,
                      amount=condition_rules.dollars(row.amount_cents), amount_cents=row.amount_cents,
                      method=condition_rules.PaymentMethod(row.method), receipt_number=row.receipt_number,
                      recorded_by=row.recorded_by, recorded_at=row.recorded_at)


def hours_out(row: ConditionHours) -> HoursOut:
    return HoursOut(id=row.id, condition_id=row.condition_id, served_on=row.served_on, hours=row.hours,
                    site=row.site, verified_by=row.verified_by, recorded_by=row.recorded_by,
                    recorded_at=row.recorded_at)


# ---------------------------------------------------------------- contacts, appointments, incidents


def contact_from_row(row: ContactRecord) -> supervision.Contact:
    return supervision.Contact(id=row.id, case_id=row.case_id, agency_id=row.agency_id,
                               kind=supervision.ContactKind(row.kind), scheduled_for=row.scheduled_for,
                               status=supervision.ContactStatus(row.status), completed_at=row.completed_at,
                               notes=row.notes)


def contact_out(row: ContactRecord) -> ContactOut:
    return ContactOut(id=row.id, case_id=row.case_id, kind=supervision.ContactKind(row.kind),
                      scheduled_for=row.scheduled_for, status=row.status, completed_at=row.completed_at,
                      notes=row.notes, version=row.version)


def appointment_row(appointment: supervision.Appointment) -> AppointmentRecord:
    return AppointmentRecord(id=appointment.id, agency_id=appointment.agency_id, case_id=appointment.case_id,
                             starts_at=appointment.starts_at, ends_at=appointment.ends_at, kind=appointment.kind,
                             with_whom=appointment.with_whom, location=appointment.location,
                             service_referral_id=appointment.service_referral_id,
                             status=appointment.status.value, version=1)


def appointment_out(row: AppointmentRecord) -> AppointmentOut:
    kind = kind_of(row.kind) or AppointmentKind.MEETING
    return AppointmentOut(id=row.id, case_id=row.case_id, starts_at=row.starts_at, ends_at=row.ends_at,
                          kind=kind, with_whom=row.with_whom, location=row.location,
                          service_referral_id=row.service_referral_id,
                          status=supervision.AppointmentStatus(row.status), version=row.version,
                          court=row.court, division=row.division, docket_number=row.docket_number,
                          kind_label=row.kind_label, cancel_reason=row.cancel_reason)


def incident_domain(row: IncidentRecord) -> supervision.Incident:
    return supervision.Incident(id=row.id, case_id=row.case_id, agency_id=row.agency_id,
                                kind=supervision.IncidentKind(row.kind), occurred_on=row.occurred_on,
                                description=row.description, response=supervision.Response(row.response),
                                responded_by=row.responded_by, contact_id=row.contact_id)


def incident_out(row: IncidentRecord) -> IncidentOut:
    return IncidentOut(id=row.id, case_id=row.case_id, kind=supervision.IncidentKind(row.kind),
                       occurred_on=row.occurred_on, description=row.description,
                       response=supervision.Response(row.response),
                       suggested_response=supervision.Response(row.suggested_response),
                       responded_by=row.responded_by, contact_id=row.contact_id)


# ---------------------------------------------------------------- consents


def consent_domain(row: ConsentRecord) -> consent_rules.Consent:
    return consent_rules.Consent(
        id=row.id, agency_id=row.agency_id, kind=consent_rules.ConsentKind(row.kind),
        participant_id=row.participant_id, participant_name=row.participant_name, discloser=row.discloser,
        categories=frozenset(consent_rules.InfoCategory(c) for c in row.categories),
        recipient_org_id=row.recipient_org_id, recipient_name=row.recipient_name,
        purposes=frozenset(consent_rules.Purpose(p) for p in row.purposes),
        right_to_revoke_acknowledged=row.right_to_revoke_acknowledged,
        revocation_instructions=row.revocation_instructions, expires_on=row.expires_on,
        expiry_event=consent_rules.DispositionEvent(row.expiry_event) if row.expiry_event else None,
        revocable_on=row.revocable_on,
        revocable_upon=consent_rules.DispositionEvent(row.revocable_upon) if row.revocable_upon else None,
        signature=consent_rules.Signature.model_validate(row.signature) if row.signature else None,
        effective_on=row.effective_on, revoked_on=row.revoked_on, revoked_by=row.revoked_by,
        revocation_method=row.revocation_method,
    )


def consent_row(domain: consent_rules.Consent, *, created_at: dt.datetime, created_by: str) -> ConsentRecord:
    return ConsentRecord(
        id=domain.id, agency_id=domain.agency_id, participant_id=domain.participant_id, kind=domain.kind.value,
        participant_name=domain.participant_name, discloser=domain.discloser,
        categories=sorted(c.value for c in domain.categories), recipient_org_id=domain.recipient_org_id,
        recipient_name=domain.recipient_name, purposes=sorted(p.value for p in domain.purposes),
        right_to_revoke_acknowledged=domain.right_to_revoke_acknowledged,
        revocation_instructions=domain.revocation_instructions, expires_on=domain.expires_on,
        expiry_event=domain.expiry_event.value if domain.expiry_event else None,
        revocable_on=domain.revocable_on,
        revocable_upon=domain.revocable_upon.value if domain.revocable_upon else None,
        signature=domain.signature.model_dump(mode="json") if domain.signature else None,
        effective_on=domain.effective_on, version=1, created_at=created_at, created_by=created_by,
    )


def consent_out(row: ConsentRecord) -> ConsentOut:
    domain = consent_domain(row)
    return ConsentOut(
        id=row.id, participant_id=row.participant_id, kind=domain.kind, participant_name=row.participant_name,
        discloser=row.discloser, categories=sorted(domain.categories), recipient_org_id=row.recipient_org_id,
        recipient_name=row.recipient_name, purposes=sorted(domain.purposes),
        right_to_revoke_acknowledged=row.right_to_revoke_acknowledged,
        revocation_instructions=row.revocation_instructions, expires_on=row.expires_on,
        expiry_event=domain.expiry_event, revocable_on=row.revocable_on, revocable_upon=domain.revocable_upon,
        signature=SignatureIn.model_validate(row.signature) if row.signature else None,
        effective_on=row.effective_on, revoked_on=row.revoked_on, revoked_by=row.revoked_by,
        revocation_method=row.revocation_method, missing_elements=domain.missing_elements(),
        revocable_from=consent_rules.revocable_from(domain), version=row.version,
    )
