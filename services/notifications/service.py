"""notifications: events into signed webhooks, partner feeds, emails and SMS, with a delivery log.

Over 400 lines on purpose: the service class is the one place nameko sees: every endpoint and handler is a
few lines that validate, audit and delegate to `usecases/`; listing them together shows the whole surface.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from services.notifications.channels.base import AttemptStatus
from services.notifications.channels.ssrf import TargetRefused
from services.notifications.domain.phone import InvalidPhoneNumber, normalize_phone
from services.notifications.domain.preferences import SmsKeyword, parse_sms_keyword
from services.notifications.domain.routing import UnknownEventType
from services.notifications.domain.subscriptions import InvalidSubscription, NotNow, SubscriptionRefused
from services.notifications.extensions import NotificationRuntime
from services.notifications.inbound import HeaderCall, InboundNotVerified, api_with_headers, verify_inbound
from services.notifications.mapping import (
    delivery_out,
    preference_out,
    subscription_out,
    tagged,
    template_override_out,
    with_secret,
)
from services.notifications.schemas import (
    AttemptOut,
    ContactPreferenceIn,
    ContactPreferenceOut,
    DeliveryOut,
    DeliveryQuery,
    InboundSms,
    PingResult,
    ReminderOut,
    StaffContactIn,
    StaffContactOut,
    SubscriptionCreate,
    SubscriptionOut,
    SubscriptionWithSecret,
    TemplateOverrideIn,
    TemplateOverrideOut,
)
from services.notifications.settings import NotificationSettings
from services.notifications.usecases import (
    case_notices,
    deliveries,
    directory,
    events,
    people,
    referral_cases,
    sealing,
    subscriptions,
    templates,
)
from services.notifications.usecases import consents as consent_copy
from shared.db import Database
from shared.extensions import AuditLog, Auditor, settings_timer
from shared.http import ApiResponse, Call, UnprocessableContent, api, register_problem
from shared.http.concurrency import etag
from shared.http.pagination import Page
from shared.idempotency import remember, replay
from shared.messaging import CloudEvent, Outbox, reliable_handler
from shared.messaging.catalog import (
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentScheduled,
    CaseAssigned,
    CaseContactOverdue,
    CaseEndApproaching,
    CasePlanUpdated,
    CheckinOverdue,
    ConsentExpired,
    ConsentRecorded,
    ConsentRevoked,
    DeliveryFailed,
    RecordErasureRequested,
    RecordSealingRequested,
    ReferralAccepted,
    ReferralDeclined,
    ReferralDeferred,
    ReferralDisposed,
    ReferralReviewDue,
    ResourcesDisclosureRecorded,
    ServiceReferralEscalated,
    ServiceReferralRequested,
    ServiceReferralStatusChanged,
    StaffRegistered,
    StaffUpdated,
)
from shared.messaging.signing import key_of
from shared.records import tombstone_key
from shared.service import ServiceBase

log = logging.getLogger(__name__)

# `shared.runner.load()` and the test fixture read the service's extra settings class from here.
SETTINGS_CLASS = NotificationSettings

register_problem(TargetRefused, 422, "webhook-target-refused", "The webhook target may not be called")
register_problem(UnknownEventType, 422, "unknown-event-type", "Partners cannot subscribe to this event type")
register_problem(InboundNotVerified, 403, "inbound-not-verified", "The inbound message could not be verified")
register_problem(SubscriptionRefused, 403, "forbidden", "Forbidden")
register_problem(InvalidSubscription, 422, "validation-error", "Request body is invalid")
register_problem(NotNow, 409, "conflict", "Conflict")


Handler = Callable[[Any, CloudEvent[Any]], None]


def creating(method: Handler) -> Handler:
    """A handler that creates rows from its event: one naming an erased referral, case or participant (a
    tombstone, ADR 0083) is acknowledged and nothing is created (`sealing.refused` logs it)."""

    @functools.wraps(method)
    def handler(self: NotificationsService, event: CloudEvent[Any]) -> None:
        if sealing.refused(self.db, self._tombstone_key(), event):
            return
        method(self, event)

    return handler


class NotificationsService(ServiceBase):
    """Partner subscriptions, staff and participant notifications, and the delivery log."""

    name = "notifications"
    api_tags = {
        "subscriptions": "Partners' webhook and AMQP-feed subscriptions, their signing secrets and tests.",
        "deliveries": "The delivery log: every notification, its attempts, and replays.",
        "people": "Contact preferences of participants and staff, reminders, and inbound SMS (STOP / START).",
        "templates": "The agency's own text for notification templates.",
    }
    db = Database()
    outbox = Outbox()
    runtime: NotificationRuntime = NotificationRuntime()
    audit: AuditLog = Auditor()

    def _tombstone_key(self) -> bytes:
        return tombstone_key(key_of(self.runtime.container))

    def _woken(self, made: bool) -> None:
        """The delivery worker runs once this transaction commits, when it created deliveries."""
        if made:
            self.runtime.wake_after_commit(self.db)

    # ---------------------------------------------------------------- subscriptions

    @api("POST", "/v1/subscriptions", roles={"partner", "admin"}, body=SubscriptionCreate,
         response=SubscriptionWithSecret, status=201, headers=["Idempotency-Key"], errors=[],
         tags=["subscriptions"], summary="Subscribe a webhook URL or the AMQP feed; the secret is shown once")
    def create_subscription(self, call: Call[SubscriptionCreate]) -> ApiResponse:
        previous = replay(self.db, call, "subscription.create")
        if previous is not None:
            return previous
        body: SubscriptionCreate = call.body
        row, secret = subscriptions.create(self.db, call, body, self.runtime.channels, self.runtime.now())
        out = with_secret(row, secret)
        self.audit.record(call, "subscription.created", "subscription", row.id, detail={
            "org_id": row.org_id, "audience": body.audience, "channel": body.channel,
            "event_types": row.event_types})
        remember(self.db, call, "subscription.create", 201, out)
        self.db.commit()
        return tagged(out, row, 201)

    @api("GET", "/v1/subscriptions", roles={"partner", "admin"}, response=list[SubscriptionOut],
         tags=["subscriptions"], summary="Subscriptions: a partner sees its own organization's, an admin all")
    def list_subscriptions(self, call: Call) -> list[SubscriptionOut]:
        return [subscription_out(row) for row in subscriptions.list_visible(self.db, call)]

    @api("GET", "/v1/subscriptions/<subscription_id>", roles={"partner", "admin"}, response=SubscriptionOut,
         tags=["subscriptions"], summary="One subscription, with its ETag")
    def get_subscription(self, call: Call, subscription_id: str) -> ApiResponse:
        row = subscriptions.load(self.db, call, subscription_id)
        return tagged(subscription_out(row), row)

    @api("POST", "/v1/subscriptions/<subscription_id>/ping", roles={"partner", "admin"}, response=PingResult,
         errors=[409], tags=["subscriptions"],
         summary="Send a test event through the subscription's channel now and report what happened")
    def ping_subscription(self, call: Call, subscription_id: str) -> PingResult:
        job = subscriptions.ping(self.db, call, subscription_id, self.runtime.now(),
                                 dt.timedelta(seconds=self.runtime.own.lease_seconds), self.runtime.instance_id)
        self.audit.record(call, "subscription.pinged", "subscription", subscription_id,
                          detail={"delivery_id": job.delivery_id})
        self.db.commit()
        result = self.runtime.send_now(job)
        return PingResult(delivery_id=job.delivery_id, outcome=result.status.value, status_code=result.status_code,
                          latency_ms=result.latency_ms, error=result.error)

    @api("POST", "/v1/subscriptions/<subscription_id>/secret-rotation", roles={"partner", "admin"},
         response=SubscriptionWithSecret, required_headers=["If-Match"], errors=[409, 412, 428], tags=["subscriptions"],
         summary="New signing secret; both signatures are sent until the grace period ends")
    def rotate_secret(self, call: Call, subscription_id: str) -> ApiResponse:
        row = subscriptions.rotate_secret(self.db, call, subscription_id, self.runtime.now(),
                                          dt.timedelta(hours=self.runtime.own.secret_rotation_grace_hours))
        assert row.previous_secret_expires_at is not None
        self.audit.record(call, "subscription.secret_rotated", "subscription", row.id,
                          detail={"previous_valid_until": row.previous_secret_expires_at.isoformat()})
        self.db.commit()
        return tagged(with_secret(row, row.secret), row)

    def _set_status(self, call: Call, subscription_id: str, status: str) -> ApiResponse:
        row, changed = subscriptions.set_status(self.db, call, subscription_id, status, self.runtime.now())
        if changed:
            self.audit.record(call, f"subscription.{status}", "subscription", row.id)
            self.db.commit()
        return tagged(subscription_out(row), row)

    @api("POST", "/v1/subscriptions/<subscription_id>/disable", roles={"partner", "admin"},
         response=SubscriptionOut, required_headers=["If-Match"], errors=[412, 428], tags=["subscriptions"],
         summary="Stop deliveries to this subscription")
    def disable_subscription(self, call: Call, subscription_id: str) -> ApiResponse:
        return self._set_status(call, subscription_id, "disabled")

    @api("POST", "/v1/subscriptions/<subscription_id>/enable", roles={"partner", "admin"},
         response=SubscriptionOut, required_headers=["If-Match"], errors=[412, 428], tags=["subscriptions"],
         summary="Resume deliveries (also after a 410 Gone disabled it)")
    def enable_subscription(self, call: Call, subscription_id: str) -> ApiResponse:
        return self._set_status(call, subscription_id, "enabled")

    # ---------------------------------------------------------------- deliveries

    def _opened(self, call: Call, kind: str, record_id: str, basis: str | None) -> None:
        """A records officer opened a sealed record (RSMo 610.120): audited with the code only."""
        if basis is not None:
            self.audit.record_now(call, "sealed_record.opened", kind, record_id, detail={"legal_basis": basis})

    @api("GET", "/v1/deliveries", person_data=True,
         roles={"partner", "admin", "records_officer"}, query=DeliveryQuery, response=Page[DeliveryOut],
         headers=["X-Legal-Basis"], errors=[400],
         tags=["deliveries"], summary="The delivery log, newest first (a partner sees its organization's; sealed "
                                      "deliveries only a records officer naming a legal basis)")
    def list_deliveries(self, call: Call[None, DeliveryQuery]) -> Page[DeliveryOut]:
        rows, next_cursor, basis, opened = deliveries.list_deliveries(self.db, call, call.query)
        items = [delivery_out(row) for row in rows]
        self.audit.record_now(call, "delivery.listed", "delivery", None, detail={"ids": [d.id for d in items]})
        for delivery_id in sorted(opened):
            self._opened(call, "delivery", delivery_id, basis)
        return Page[DeliveryOut](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/deliveries/<delivery_id>", person_data=True, roles={"partner", "admin", "records_officer"},
         response=DeliveryOut, headers=["X-Legal-Basis"], errors=[400],
         tags=["deliveries"], summary="One delivery (a sealed one: 404, or a records officer's X-Legal-Basis)")
    def get_delivery(self, call: Call, delivery_id: str) -> DeliveryOut:
        row, basis = deliveries.read(self.db, call, delivery_id)
        self._opened(call, "delivery", row.id, basis)
        self.audit.record_now(call, "delivery.read", "delivery", row.id)
        return delivery_out(row)

    @api("GET", "/v1/deliveries/<delivery_id>/attempts", person_data=True,
         roles={"partner", "admin", "records_officer"}, response=list[AttemptOut], headers=["X-Legal-Basis"],
         errors=[400],
         tags=["deliveries"], summary="Every attempt of a delivery: time, outcome, status code, latency, error")
    def list_attempts(self, call: Call, delivery_id: str) -> list[AttemptOut]:
        delivery, rows, basis = deliveries.attempts(self.db, call, delivery_id)
        self._opened(call, "delivery", delivery.id, basis)
        self.audit.record_now(call, "delivery.attempts_read", "delivery", delivery.id,
                              detail={"attempts": len(rows)})
        return [AttemptOut.model_validate(row) for row in rows]

    @api("POST", "/v1/deliveries/<delivery_id>/replay", roles={"partner", "admin"}, response=DeliveryOut,
         status=202, errors=[409], tags=["deliveries"],
         summary="Send a failed delivery again (same id, a fresh retry schedule)")
    def replay_delivery(self, call: Call, delivery_id: str) -> DeliveryOut:
        row = deliveries.replay(self.db, call, delivery_id, self.runtime.now())
        self.audit.record(call, "delivery.replayed", "delivery", row.id)
        self._woken(True)
        self.db.commit()
        return delivery_out(row)

    # ---------------------------------------------------------------- staff and participants

    @api("PUT", "/v1/staff-contacts/<staff_id>", roles={"admin", "supervisor"}, body=StaffContactIn,
         response=StaffContactOut, responses={201: StaffContactOut}, headers=["If-Match"], errors=[412, 428],
         tags=["people"],
         summary="Topics a staff member opts into, or where a recipient who is not casework staff gets notices "
                 "(casework's staff events keep staff contacts); If-Match when changing an existing one")
    def put_staff_contact(self, call: Call[StaffContactIn], staff_id: str) -> ApiResponse:
        body: StaffContactIn = call.body
        row, created = people.put_staff_contact(self.db, call, staff_id, body, self.runtime.now())
        self.audit.record(call, "staff_contact.saved", "staff_contact", staff_id, detail={"topics": list(body.topics)})
        self._woken(directory.release_notices(self.db, row, self.runtime.fanout_context()) > 0)
        self.db.commit()
        return ApiResponse(StaffContactOut.model_validate(row), status=201 if created else 200,
                           headers={"ETag": etag(staff_id, row.version)})

    @api("GET", "/v1/staff-contacts", roles={"admin", "supervisor"}, response=list[StaffContactOut],
         tags=["people"], summary="Staff contacts of the agency")
    def list_staff_contacts(self, call: Call) -> list[StaffContactOut]:
        return [StaffContactOut.model_validate(row) for row in people.list_staff_contacts(self.db, call.agency)]

    @api("GET", "/v1/staff-contacts/<staff_id>", roles={"admin", "supervisor"}, response=StaffContactOut,
         tags=["people"], summary="One staff contact, with the ETag a change of it sends as If-Match")
    def get_staff_contact(self, call: Call, staff_id: str) -> ApiResponse:
        row = people.get_staff_contact(self.db, call.agency, staff_id)
        return ApiResponse(StaffContactOut.model_validate(row), headers={"ETag": etag(staff_id, row.version)})

    @api("GET", "/v1/contact-preferences/<case_id>", person_data=True,
         roles={"case_manager", "supervisor", "admin", "records_officer"}, headers=["X-Legal-Basis"], errors=[400],
         response=ContactPreferenceOut, tags=["people"], summary="A participant's contact preferences")
    def get_contact_preference(self, call: Call, case_id: str) -> ApiResponse:
        basis = sealing.guard(self.db, call, "case", case_id, f"no contact preferences for case {case_id}")
        row = people.get_contact_preference(self.db, call.agency, case_id)
        self._opened(call, "contact_preference", case_id, basis)
        self.audit.record_now(call, "contact_preference.read", "contact_preference", case_id)
        return ApiResponse(preference_out(row, people.sms_opted_out(self.db, row)),
                           headers={"ETag": etag(case_id, row.version)})

    @api("PUT", "/v1/contact-preferences/<case_id>", roles={"case_manager", "supervisor", "admin"},
         body=ContactPreferenceIn, response=ContactPreferenceOut, responses={201: ContactPreferenceOut},
         headers=["If-Match"], errors=[412, 428],
         tags=["people"], summary="Set channel, language or do-not-contact (If-Match when they exist)")
    def put_contact_preference(self, call: Call[ContactPreferenceIn], case_id: str) -> ApiResponse:
        body: ContactPreferenceIn = call.body
        row, created = people.put_contact_preference(self.db, call, case_id, body, self.runtime.now())
        self.audit.record(call, "contact_preference.saved", "contact_preference", case_id,
                          detail={"channel": body.channel, "do_not_contact": body.do_not_contact})
        self.db.commit()
        return ApiResponse(preference_out(row, people.sms_opted_out(self.db, row)), status=201 if created else 200,
                           headers={"ETag": etag(case_id, row.version)})

    @api_with_headers("POST", "/v1/sms/inbound", public=True, body=InboundSms,
                      media_type="application/x-www-form-urlencoded", status=204, errors=[403],
                      tags=["people"], summary="Inbound SMS from the provider: STOP / START (verified)")
    def sms_inbound(self, call: Call[InboundSms]) -> ApiResponse:
        """The SMS provider's callback. No bearer token: the request proves itself with the shared secret
        (`DIVERSION_NOTIFICATIONS_SMS_INBOUND_SECRET`) or the provider's signature, else 403."""
        assert isinstance(call, HeaderCall)
        own: NotificationSettings = self.runtime.own
        params = parse_qsl(call.raw_body.decode("utf-8", "replace"), keep_blank_values=True)
        verified_by = verify_inbound(call.headers, params, shared_secret=own.sms_inbound_secret,
                                     auth_token=own.sms_auth_token, public_url=own.sms_inbound_url)
        try:
            message = InboundSms.model_validate(dict(params))
            phone = normalize_phone(message.From, own.sms_default_country_code)
        except (ValueError, InvalidPhoneNumber):
            raise UnprocessableContent("From must be a phone number and Body a text") from None
        keyword = parse_sms_keyword(message.Body)
        if keyword in (SmsKeyword.OPT_OUT, SmsKeyword.OPT_IN):
            assert keyword is not None
            people.record_sms_keyword(self.db, phone, keyword, message.Body, self.runtime.now())
            self.audit.record(call, f"sms.{keyword.value}", "sms_opt_out", None, detail={"verified_by": verified_by})
            self.db.commit()
        return ApiResponse(None, status=204)

    @api("GET", "/v1/appointments/<appointment_id>/reminders", person_data=True,
         roles={"case_manager", "supervisor", "admin", "records_officer"}, headers=["X-Legal-Basis"], errors=[400],
         response=list[ReminderOut], tags=["people"],
         summary="An appointment's reminders: when each is due, and whether it was queued or skipped (and why)")
    def list_reminders(self, call: Call, appointment_id: str) -> list[ReminderOut]:
        rows = people.reminders_of(self.db, call.agency, appointment_id)
        basis = sealing.guard(self.db, call, "case", rows[0].case_id, f"no reminders for appointment {appointment_id}")
        self._opened(call, "appointment", appointment_id, basis)
        self.audit.record_now(call, "reminder.listed", "appointment", appointment_id,
                              detail={"ids": [r.id for r in rows]})
        return [ReminderOut.model_validate(row) for row in rows]

    # ---------------------------------------------------------------- templates

    @api("PUT", "/v1/templates/<name>", roles={"admin"}, body=TemplateOverrideIn, response=TemplateOverrideOut,
         tags=["templates"], summary="The agency's own text for one part of a template (sandboxed Jinja2)")
    def put_template(self, call: Call[TemplateOverrideIn], name: str) -> TemplateOverrideOut:
        row = templates.put_override(self.db, call.agency, name, call.body, call.actor, self.runtime.now())
        self.audit.record(call, "template.saved", "template", row.key)
        self.db.commit()
        return template_override_out(row)

    @api("GET", "/v1/templates/<name>", roles={"admin"}, response=list[TemplateOverrideOut], tags=["templates"],
         summary="The agency's overrides of a template (parts not listed use the built-in text)")
    def get_template(self, call: Call, name: str) -> list[TemplateOverrideOut]:
        return [template_override_out(row) for row in templates.overrides(self.db, call.agency, name)]

    # ---------------------------------------------------------------- events (ack after commit, inbox)

    @reliable_handler(ServiceReferralRequested)
    @creating
    def on_service_referral_requested(self, event: CloudEvent[ServiceReferralRequested]) -> None:
        self._woken(events.referral_requested(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ServiceReferralStatusChanged)
    @creating
    def on_service_referral_status_changed(self, event: CloudEvent[ServiceReferralStatusChanged]) -> None:
        self._woken(events.referral_status_changed(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ServiceReferralEscalated)
    @creating
    def on_service_referral_escalated(self, event: CloudEvent[ServiceReferralEscalated]) -> None:
        self._woken(events.referral_escalated(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ConsentRecorded)
    @creating
    def on_consent_recorded(self, event: CloudEvent[ConsentRecorded]) -> None:
        consent_copy.apply(self.db, event.tenantid, event.data, event.data.recorded_at)  # ADR 0070

    @reliable_handler(ConsentRevoked)
    @creating
    def on_consent_revoked(self, event: CloudEvent[ConsentRevoked]) -> None:
        consent_copy.apply(self.db, event.tenantid, event.data, event.data.revoked_at, revoked=True)

    @reliable_handler(ConsentExpired)
    @creating
    def on_consent_expired(self, event: CloudEvent[ConsentExpired]) -> None:
        consent_copy.apply(self.db, event.tenantid, event.data, event.data.expired_at, expired=True)

    @reliable_handler(CaseAssigned)
    @creating
    def on_case_assigned(self, event: CloudEvent[CaseAssigned]) -> None:
        self._woken(events.case_assigned(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(CheckinOverdue)
    @creating
    def on_checkin_overdue(self, event: CloudEvent[CheckinOverdue]) -> None:
        self._woken(events.checkin_overdue(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ReferralAccepted)
    @creating
    def on_referral_accepted(self, event: CloudEvent[ReferralAccepted]) -> None:
        """To the agency's own system (agency subscriptions only)."""
        self._woken(events.to_agency(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ReferralDeclined)
    @creating
    def on_referral_declined(self, event: CloudEvent[ReferralDeclined]) -> None:
        """To the agency's own system (agency subscriptions only)."""
        self._woken(events.to_agency(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ReferralDeferred)
    @creating
    def on_referral_deferred(self, event: CloudEvent[ReferralDeferred]) -> None:
        """To the agency's own system (agency subscriptions only)."""
        self._woken(events.to_agency(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ReferralDisposed)
    @creating
    def on_referral_disposed(self, event: CloudEvent[ReferralDisposed]) -> None:
        """The disposition (or a withdrawal) to the agency's own system (agency subscriptions only)."""
        self._woken(events.to_agency(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ReferralReviewDue)
    @creating
    def on_referral_review_due(self, event: CloudEvent[ReferralReviewDue]) -> None:
        """The screening team (staff contacts with the `screening_review` topic) is told a referral is back."""
        self._woken(events.review_due(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(AppointmentScheduled)
    @creating
    def on_appointment_scheduled(self, event: CloudEvent[AppointmentScheduled]) -> None:
        self._woken(events.appointment_scheduled(self.db, event, self.runtime.fanout_context(),
                                                 self.runtime.reminder_policy))

    @reliable_handler(AppointmentRescheduled)
    @creating
    def on_appointment_rescheduled(self, event: CloudEvent[AppointmentRescheduled]) -> None:
        """The old time's reminders are withdrawn, the new time's planned."""
        self._woken(case_notices.appointment_rescheduled(self.db, event, self.runtime.fanout_context(),
                                                         self.runtime.reminder_policy))

    @reliable_handler(AppointmentCancelled)
    @creating
    def on_appointment_cancelled(self, event: CloudEvent[AppointmentCancelled]) -> None:
        """None of the appointment's reminders is sent."""
        self._woken(case_notices.appointment_cancelled(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(StaffRegistered)
    def on_staff_registered(self, event: CloudEvent[StaffRegistered]) -> None:
        """The staff contact from casework's directory; notices that waited for it are sent."""
        self._woken(directory.learn_staff(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(StaffUpdated)
    def on_staff_updated(self, event: CloudEvent[StaffUpdated]) -> None:
        """The staff contact follows casework's directory (email, name, active)."""
        self._woken(directory.learn_staff(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(CaseContactOverdue)
    @creating
    def on_case_contact_overdue(self, event: CloudEvent[CaseContactOverdue]) -> None:
        """The case manager is emailed (and staff with the `contact_overdue` topic)."""
        self._woken(case_notices.contact_overdue(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(CaseEndApproaching)
    @creating
    def on_case_end_approaching(self, event: CloudEvent[CaseEndApproaching]) -> None:
        """The case manager is emailed (and staff with the `end_approaching` topic)."""
        self._woken(case_notices.end_approaching(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(CasePlanUpdated)
    @creating
    def on_case_plan_updated(self, event: CloudEvent[CasePlanUpdated]) -> None:
        """The case manager is emailed (and staff with the `plan_updated` topic)."""
        self._woken(case_notices.plan_updated(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(DeliveryFailed)
    @creating
    def on_delivery_failed(self, event: CloudEvent[DeliveryFailed]) -> None:
        """A partner never got a service-referral event: the case manager (when known) and the
        `delivery_failed` topic's staff learn which partner and why."""
        self._woken(case_notices.delivery_failed(self.db, event, self.runtime.fanout_context()))

    @reliable_handler(ResourcesDisclosureRecorded)
    @creating
    def on_resources_disclosure(self, event: CloudEvent[ResourcesDisclosureRecorded]) -> None:
        """Only the case the service referral serves is kept (a failed delivery reaches its manager)."""
        self._woken(referral_cases.learn_from_disclosure(self.db, event, self.runtime.fanout_context()))

    # ---------------------------------------------------------------- sealing and erasure (ADR 0083)

    @reliable_handler(RecordSealingRequested)
    def on_record_sealing_requested(self, event: CloudEvent[RecordSealingRequested]) -> None:
        """No message about the case goes out any more; its deliveries and contact are sealed; confirmed."""
        sealing.seal_case(self.db, event.tenantid, event.data, self.runtime.now())

    @reliable_handler(RecordErasureRequested)
    def on_record_erasure_requested(self, event: CloudEvent[RecordErasureRequested]) -> None:
        """Every row about the case and its participant is deleted, tombstones kept; confirmed."""
        sealing.erase_case(self.db, event.tenantid, event.data, self._tombstone_key(), self.runtime.now())

    # ---------------------------------------------------------------- the delivery worker

    @settings_timer(NotificationSettings, "dispatch_interval_seconds")
    def dispatch_due(self) -> None:
        """Every tick: queue due reminders, claim due deliveries, start their sends."""
        self.runtime.dispatch_pass()


__all__ = ["SETTINGS_CLASS", "NotificationsService", "AttemptStatus"]
