"""notifications: events into signed webhooks, partner feeds, emails and SMS, with a delivery log."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import event as sa_event
from sqlalchemy import select
from werkzeug.wrappers import Request

from services.notifications.channels.amqp_feed import InvalidFeedName, feed_routing_key
from services.notifications.channels.base import AttemptStatus, Message
from services.notifications.channels.signing import generate_secret
from services.notifications.channels.ssrf import TargetRefused
from services.notifications.dispatch import Job, aware, signing_secrets
from services.notifications.domain.phone import InvalidPhoneNumber, normalize_phone
from services.notifications.domain.preferences import SmsKeyword, parse_sms_keyword
from services.notifications.domain.routing import (
    UnknownEventType,
    is_rejection,
    mask_recipient,
    normalize_event_filters,
)
from services.notifications.fanout import (
    agency_deliveries,
    case_manager_of,
    link,
    local,
    new_delivery,
    new_id,
    partner_deliveries,
    plan_appointment,
    record_assignment,
    staff_context_for_escalation,
    staff_context_for_rejection,
    staff_context_for_review,
    staff_deliveries,
)
from services.notifications.inbound import InboundNotVerified, verify_inbound
from services.notifications.models import (
    AGENCY_ORG,
    ContactPreference,
    Delivery,
    DeliveryAttempt,
    Reminder,
    SmsOptOut,
    StaffContact,
    Subscription,
    TemplateOverride,
)
from services.notifications.runtime import NotificationRuntime, delivery_timer
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
from services.notifications.templates import (
    EMAIL_TEMPLATES,
    SMS_TEMPLATES,
    TemplateInvalid,
    TemplateMissing,
    TemplateRefused,
    TemplateRenderer,
)
from shared.audit import write_audit, write_audit_now
from shared.db import Database
from shared.http import (
    ApiResponse,
    Call,
    Conflict,
    Forbidden,
    NotFound,
    UnprocessableContent,
    api,
    register_problem,
)
from shared.http.api import ApiEntrypoint
from shared.http.concurrency import etag, require_if_match
from shared.http.pagination import Page, Pager
from shared.idempotency import remember, replay
from shared.messaging import CloudEvent, Outbox, reliable_handler
from shared.messaging.catalog import (
    AppointmentScheduled,
    CaseAssigned,
    CheckinOverdue,
    ReferralAccepted,
    ReferralDeclined,
    ReferralDeferred,
    ReferralDisposed,
    ReferralReviewDue,
    ServiceReferralEscalated,
    ServiceReferralRequested,
    ServiceReferralStatusChanged,
)
from shared.messaging.envelope import source_of
from shared.service import ServiceBase

log = logging.getLogger(__name__)

# `shared.runner.load()` and the test fixture read the service's extra settings class from here.
SETTINGS_CLASS = NotificationSettings

register_problem(TargetRefused, 422, "webhook-target-refused", "The webhook target may not be called")
register_problem(UnknownEventType, 422, "unknown-event-type", "Partners cannot subscribe to this event type")
register_problem(InboundNotVerified, 403, "inbound-not-verified", "The inbound message could not be verified")

PING_TYPE = "org.diversion.notifications.subscription.ping"
_WAKE_KEY = "notifications_wake_after_commit"
SAMPLE_CONTEXT: dict[str, dict[str, Any]] = {
    "appointment_reminder": {
        "first_name": "Ana", "place": "1114 Market St", "agency_name": "Diversion Program",
        "appointment_at": dt.datetime(2030, 3, 4, 14, 30, tzinfo=dt.UTC), "contact_phone": "314-555-0100",
    },
    "staff_new_assignment": {"case_ref": "case-1", "link": "https://example.org/cases/case-1",
                             "program_name": "Young adult"},
    "staff_service_referral_rejected": {"organization_name": "Org", "service_name": "Housing",
                                        "case_ref": "case-1", "reason": "full", "link": "https://example.org"},
    "staff_escalation": {"organization_name": "Org", "service_name": "Housing", "case_ref": "case-1",
                         "waiting_days": 3, "link": "https://example.org"},
    "staff_checkin_overdue": {"case_ref": "case-1", "days_overdue": 2, "link": "https://example.org",
                              "due_at": dt.datetime(2030, 3, 4, 14, 30, tzinfo=dt.UTC)},
}


@dataclass(frozen=True)
class HeaderCall(Call):
    """A `Call` that also carries the request headers (the inbound SMS route verifies them)."""

    headers: dict[str, str] = field(default_factory=dict)


class HeaderApiEntrypoint(ApiEntrypoint):
    def _parse(self, request: Request, identity: Any, request_id: str, traceparent: str) -> Call:
        call = super()._parse(request, identity, request_id, traceparent)
        values = {item.name: getattr(call, item.name) for item in fields(Call)}
        return HeaderCall(**values, headers={key: value for key, value in request.headers.items()})


api_with_headers = HeaderApiEntrypoint.decorator


def _subscription_out(row: Subscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(row)


def _tagged(body: Any, row: Any, status: int = 200) -> ApiResponse:
    return ApiResponse(body, status=status, headers={"ETag": etag(row.id if hasattr(row, "id") else "", row.version)})


def _delivery_out(row: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=row.id, channel=row.channel, purpose=row.purpose, subscription_id=row.subscription_id,
        org_id=row.org_id, recipient=mask_recipient(row.channel, row.recipient),
        trigger_event_id=row.trigger_event_id, trigger_event_type=row.trigger_event_type, status=row.status,
        attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_status_code=row.last_status_code,
        last_error=row.last_error, created_at=row.created_at, updated_at=row.updated_at,
        delivered_at=row.delivered_at,
    )


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
    runtime: NotificationRuntime = NotificationRuntime()  # type: ignore[assignment]

    # ---------------------------------------------------------------- helpers

    def _audit(self, call: Call, action: str, resource_type: str, resource_id: str | None,
               detail: dict[str, Any] | None = None) -> None:
        write_audit(self.db, service=self.name, action=action, outcome="success", identity=call.identity,
                    resource_type=resource_type, resource_id=resource_id, source_ip=call.remote_addr,
                    request_id=call.request_id, detail=detail)

    def _audit_read(self, call: Call, action: str, resource_type: str, resource_id: str | None,
                    detail: dict[str, Any] | None = None) -> None:
        """A read of person-level data, in its own transaction (recorded whatever happens next)."""
        write_audit_now(self.db.get_bind(), service=self.name, action=action, outcome="success",  # type: ignore[arg-type]
                        identity=call.identity, resource_type=resource_type, resource_id=resource_id,
                        source_ip=call.remote_addr, request_id=call.request_id, detail=detail)

    def _wake_after_commit(self) -> None:
        # Once per transaction: the handlers of a batch share one session (shared.messaging.consumer).
        if self.db.info.get(_WAKE_KEY):
            return
        self.db.info[_WAKE_KEY] = True
        runtime = self.runtime

        def wake(session: Any) -> None:
            session.info.pop(_WAKE_KEY, None)
            runtime.wake()

        sa_event.listen(self.db, "after_commit", wake, once=True)

    @staticmethod
    def _org_scope(call: Call) -> str | None:
        """None for an admin (whole agency); the partner's own organization otherwise."""
        assert call.identity is not None
        if "admin" in call.identity.roles:
            return None
        if not call.identity.org:
            raise Forbidden("a partner token must name its organization (claim org)")
        return call.identity.org

    def _subscription(self, call: Call, subscription_id: str, lock: bool = False) -> Subscription:
        statement = select(Subscription).where(
            Subscription.agency_id == call.agency, Subscription.id == subscription_id
        )
        org = self._org_scope(call)
        if org is not None:
            statement = statement.where(Subscription.org_id == org, Subscription.audience == "partner")
        if lock:
            statement = statement.with_for_update()
        row = self.db.scalars(statement).first()
        if row is None:
            raise NotFound(f"no subscription {subscription_id}")
        return row

    def _delivery(self, call: Call, delivery_id: str, lock: bool = False) -> Delivery:
        statement = select(Delivery).where(Delivery.agency_id == call.agency, Delivery.id == delivery_id)
        org = self._org_scope(call)
        if org is not None:
            statement = statement.where(Delivery.org_id == org)
        if lock:
            statement = statement.with_for_update()
        row = self.db.scalars(statement).first()
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        return row

    # ---------------------------------------------------------------- subscriptions

    @api("POST", "/v1/subscriptions", roles={"partner", "admin"}, body=SubscriptionCreate,
         response=SubscriptionWithSecret, status=201, headers=["Idempotency-Key"], errors=[],
         tags=["subscriptions"], summary="Subscribe a webhook URL or the AMQP feed; the secret is shown once")
    def create_subscription(self, call: Call) -> ApiResponse:
        previous = replay(self.db, call, "subscription.create")
        if previous is not None:
            return previous
        body: SubscriptionCreate = call.body
        org = self._org_scope(call)
        if body.audience == "agency":
            # The agency's own system: its prosecution record, never a partner's to ask for.
            if org is not None:
                raise Forbidden("only an admin of the agency subscribes the agency's own system")
            if body.channel != "webhook" or body.organization_id:
                raise UnprocessableContent("an agency subscription is a webhook of the agency itself", errors=[
                    {"field": "channel" if body.channel != "webhook" else "organization_id",
                     "message": "agency subscriptions are webhooks with no organization", "type": "value_error"}])
            org = AGENCY_ORG
        elif org is None:
            org = body.organization_id or (call.identity.org if call.identity else None)
            if not org:
                raise UnprocessableContent("an admin names the organization", errors=[
                    {"field": "organization_id", "message": "required for admins", "type": "missing"}])
            if org == AGENCY_ORG:
                raise UnprocessableContent(f"{AGENCY_ORG!r} names the agency itself; use audience=agency", errors=[
                    {"field": "organization_id", "message": "reserved", "type": "value_error"}])
        elif body.organization_id not in (None, org):
            raise Forbidden("a partner can subscribe only its own organization")
        event_types = normalize_event_filters(body.event_types, body.audience)
        secret: str | None = None
        if body.channel == "webhook":
            if not body.url:
                raise UnprocessableContent("a webhook subscription needs a URL", errors=[
                    {"field": "url", "message": "required for the webhook channel", "type": "missing"}])
            webhook = self.runtime.channels.get("webhook")
            if webhook is None or not hasattr(webhook, "check_target"):
                raise Conflict("the webhook channel is not available on this deployment")
            webhook.check_target(body.url)
            secret = generate_secret()
        else:
            if body.url:
                raise UnprocessableContent("an AMQP feed subscription has no URL", errors=[
                    {"field": "url", "message": "must be empty for amqp_feed", "type": "extra"}])
            try:
                feed_routing_key(org, None)
            except InvalidFeedName as exc:
                raise UnprocessableContent(str(exc)) from None
        now = self.runtime.now()
        row = Subscription(
            id=new_id("sub"), agency_id=call.agency, org_id=org, audience=body.audience, channel=body.channel,
            url=body.url,
            event_types=event_types, status="enabled", created_at=now, updated_at=now,
            description=body.description, secret=secret, version=1,
        )
        self.db.add(row)
        self.db.flush()
        out = SubscriptionWithSecret(**_subscription_out(row).model_dump(), secret=secret)
        self._audit(call, "subscription.created", "subscription", row.id,
                    {"org_id": org, "audience": body.audience, "channel": body.channel, "event_types": event_types})
        remember(self.db, call, "subscription.create", 201, out)
        self.db.commit()
        return _tagged(out, row, 201)

    @api("GET", "/v1/subscriptions", roles={"partner", "admin"}, response=list[SubscriptionOut],
         tags=["subscriptions"], summary="Subscriptions: a partner sees its own organization's, an admin all")
    def list_subscriptions(self, call: Call) -> list[SubscriptionOut]:
        statement = select(Subscription).where(Subscription.agency_id == call.agency)
        org = self._org_scope(call)
        if org is not None:
            statement = statement.where(Subscription.org_id == org, Subscription.audience == "partner")
        rows = self.db.scalars(statement.order_by(Subscription.created_at, Subscription.id).limit(500)).all()
        return [_subscription_out(row) for row in rows]

    @api("GET", "/v1/subscriptions/<subscription_id>", roles={"partner", "admin"}, response=SubscriptionOut,
         tags=["subscriptions"], summary="One subscription, with its ETag")
    def get_subscription(self, call: Call, subscription_id: str) -> ApiResponse:
        row = self._subscription(call, subscription_id)
        return _tagged(_subscription_out(row), row)

    @api("POST", "/v1/subscriptions/<subscription_id>/ping", roles={"partner", "admin"}, response=PingResult,
         errors=[409], tags=["subscriptions"],
         summary="Send a test event through the subscription's channel now and report what happened")
    def ping_subscription(self, call: Call, subscription_id: str) -> PingResult:
        row = self._subscription(call, subscription_id)
        if row.status != "enabled":
            raise Conflict("the subscription is disabled; enable it first")
        now = self.runtime.now()
        delivery_id = new_id("dlv")
        body = json.dumps({
            "specversion": "1.0", "id": delivery_id, "source": source_of("notifications"), "type": PING_TYPE,
            "subject": row.id, "time": now.isoformat(), "datacontenttype": "application/json",
            "data": {"subscription_id": row.id, "message": "test ping from the diversion notifications service"},
        }, separators=(",", ":"))
        recipient = row.url if row.channel == "webhook" else row.org_id
        assert recipient is not None
        delivery = new_delivery(
            agency=call.agency, channel=row.channel, purpose="ping", recipient=recipient,
            target_key=f"ping:{delivery_id}", trigger_id=f"ping:{delivery_id}", trigger_type=PING_TYPE,
            body=body, now=now, subscription_id=row.id, org_id=row.org_id,
        )
        delivery.id = delivery_id
        delivery.status, delivery.attempts, delivery.round_attempts = "sending", 1, 1
        delivery.next_attempt_at = None
        delivery.lease_until = now + dt.timedelta(seconds=self.runtime.own.lease_seconds)
        delivery.claimed_by = self.runtime.instance_id
        self.db.add(delivery)
        self._audit(call, "subscription.pinged", "subscription", row.id, {"delivery_id": delivery_id})
        self.db.commit()
        message = Message(id=delivery_id, recipient=recipient, body=body, tenant=call.agency, event_type=PING_TYPE,
                          secrets=signing_secrets(row, now) if row.channel == "webhook" else ())
        job = Job(delivery_id=delivery_id, agency=call.agency, channel=row.channel, attempt=1, round_attempt=1,
                  subscription_id=row.id, trigger_event_id=delivery.trigger_event_id,
                  trigger_event_type=PING_TYPE, message=message)
        result = self.runtime.send_now(job)
        return PingResult(delivery_id=delivery_id, outcome=result.status.value, status_code=result.status_code,
                          latency_ms=result.latency_ms, error=result.error)

    @api("POST", "/v1/subscriptions/<subscription_id>/secret-rotation", roles={"partner", "admin"},
         response=SubscriptionWithSecret, required_headers=["If-Match"], errors=[409, 412, 428], tags=["subscriptions"],
         summary="New signing secret; both signatures are sent until the grace period ends")
    def rotate_secret(self, call: Call, subscription_id: str) -> ApiResponse:
        row = self._subscription(call, subscription_id, lock=True)
        require_if_match(call, etag(row.id, row.version))
        if row.channel != "webhook":
            raise Conflict("only webhook subscriptions are signed")
        now = self.runtime.now()
        grace = dt.timedelta(hours=self.runtime.own.secret_rotation_grace_hours)
        row.previous_secret, row.previous_secret_expires_at = row.secret, now + grace
        row.secret = generate_secret()
        row.version, row.updated_at = row.version + 1, now
        self._audit(call, "subscription.secret_rotated", "subscription", row.id,
                    {"previous_valid_until": row.previous_secret_expires_at.isoformat()})
        self.db.commit()
        out = SubscriptionWithSecret(**_subscription_out(row).model_dump(), secret=row.secret)
        return _tagged(out, row)

    def _set_status(self, call: Call, subscription_id: str, status: str) -> ApiResponse:
        row = self._subscription(call, subscription_id, lock=True)
        require_if_match(call, etag(row.id, row.version))
        if row.status != status:
            row.status = status
            row.disabled_reason = "disabled through the API" if status == "disabled" else None
            row.version, row.updated_at = row.version + 1, self.runtime.now()
            self._audit(call, f"subscription.{status}", "subscription", row.id)
            self.db.commit()
        return _tagged(_subscription_out(row), row)

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

    @api("GET", "/v1/deliveries", person_data=True,
         roles={"partner", "admin"}, query=DeliveryQuery, response=Page[DeliveryOut],
         tags=["deliveries"], summary="The delivery log, newest first (a partner sees its organization's)")
    def list_deliveries(self, call: Call) -> Page[DeliveryOut]:
        query: DeliveryQuery = call.query
        statement = select(Delivery).where(Delivery.agency_id == call.agency)
        org = self._org_scope(call)
        if org is not None:
            statement = statement.where(Delivery.org_id == org)
        for column in ("status", "channel", "purpose", "subscription_id", "trigger_event_id"):
            value = getattr(query, column)
            if value is not None:
                statement = statement.where(getattr(Delivery, column) == value)
        pager = Pager(call, Delivery.created_at.desc(), Delivery.id.desc())
        rows, next_cursor = pager.page(self.db.scalars(pager.apply(statement)).all(),
                                       key=lambda row: (aware(row.created_at), row.id))
        items = [_delivery_out(row) for row in rows]
        self._audit_read(call, "delivery.listed", "delivery", None, {"ids": [d.id for d in items]})
        return Page[DeliveryOut](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/deliveries/<delivery_id>", person_data=True, roles={"partner", "admin"}, response=DeliveryOut,
         tags=["deliveries"], summary="One delivery")
    def get_delivery(self, call: Call, delivery_id: str) -> DeliveryOut:
        row = self._delivery(call, delivery_id)
        self._audit_read(call, "delivery.read", "delivery", row.id)
        return _delivery_out(row)

    @api("GET", "/v1/deliveries/<delivery_id>/attempts", person_data=True,
         roles={"partner", "admin"}, response=list[AttemptOut],
         tags=["deliveries"], summary="Every attempt of a delivery: time, outcome, status code, latency, error")
    def list_attempts(self, call: Call, delivery_id: str) -> list[AttemptOut]:
        delivery = self._delivery(call, delivery_id)
        rows = self.db.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id)
                               .order_by(DeliveryAttempt.attempt_number, DeliveryAttempt.id).limit(1000)).all()
        self._audit_read(call, "delivery.attempts_read", "delivery", delivery.id, {"attempts": len(rows)})
        return [AttemptOut.model_validate(row) for row in rows]

    @api("POST", "/v1/deliveries/<delivery_id>/replay", roles={"partner", "admin"}, response=DeliveryOut,
         status=202, errors=[409], tags=["deliveries"],
         summary="Send a failed delivery again (same id, a fresh retry schedule)")
    def replay_delivery(self, call: Call, delivery_id: str) -> DeliveryOut:
        row = self._delivery(call, delivery_id, lock=True)
        if row.status not in ("failed", "cancelled"):
            raise Conflict(f"only failed or cancelled deliveries are replayed; this one is {row.status}")
        if row.subscription_id:
            subscription = self.db.get(Subscription, row.subscription_id)
            if subscription is None or subscription.status != "enabled":
                raise Conflict("the subscription is disabled; enable it before replaying")
        now = self.runtime.now()
        row.status, row.next_attempt_at, row.round_attempts, row.lease_until = "pending", now, 0, None
        row.updated_at, row.version = now, row.version + 1
        self._audit(call, "delivery.replayed", "delivery", row.id)
        self._wake_after_commit()
        self.db.commit()
        return _delivery_out(row)

    # ---------------------------------------------------------------- staff and participants

    @api("PUT", "/v1/staff-contacts/<staff_id>", roles={"admin", "supervisor"}, body=StaffContactIn,
         response=StaffContactOut, responses={201: StaffContactOut}, headers=["If-Match"], errors=[412, 428],
         tags=["people"],
         summary="Where a staff member (token sub) gets notices; If-Match when changing an existing one")
    def put_staff_contact(self, call: Call, staff_id: str) -> ApiResponse:
        body: StaffContactIn = call.body
        row = self.db.scalars(select(StaffContact).where(
            StaffContact.agency_id == call.agency, StaffContact.staff_id == staff_id).with_for_update()).first()
        now = self.runtime.now()
        status = 200
        if row is None:
            row = StaffContact(agency_id=call.agency, staff_id=staff_id, version=1)
            self.db.add(row)
            status = 201
        else:
            require_if_match(call, etag(staff_id, row.version))
            row.version += 1
        row.email, row.name, row.language = str(body.email), body.name, body.language
        row.topics, row.active, row.updated_at = list(body.topics), body.active, now
        self._audit(call, "staff_contact.saved", "staff_contact", staff_id, {"topics": list(body.topics)})
        self.db.commit()
        return ApiResponse(StaffContactOut.model_validate(row), status=status,
                           headers={"ETag": etag(staff_id, row.version)})

    @api("GET", "/v1/staff-contacts", roles={"admin", "supervisor"}, response=list[StaffContactOut],
         tags=["people"], summary="Staff contacts of the agency")
    def list_staff_contacts(self, call: Call) -> list[StaffContactOut]:
        rows = self.db.scalars(select(StaffContact).where(StaffContact.agency_id == call.agency)
                               .order_by(StaffContact.staff_id).limit(1000)).all()
        return [StaffContactOut.model_validate(row) for row in rows]

    def _preference_out(self, row: ContactPreference) -> ContactPreferenceOut:
        opted_out = bool(row.phone and (found := self.db.get(SmsOptOut, row.phone)) is not None and found.opted_out)
        return ContactPreferenceOut(
            case_id=row.case_id, channel=row.channel, language=row.language, do_not_contact=row.do_not_contact,
            has_phone=bool(row.phone), has_email=bool(row.email), sms_opted_out=opted_out, version=row.version,
            updated_at=row.updated_at,
        )

    @api("GET", "/v1/contact-preferences/<case_id>", person_data=True, roles={"case_manager", "supervisor", "admin"},
         response=ContactPreferenceOut, tags=["people"], summary="A participant's contact preferences")
    def get_contact_preference(self, call: Call, case_id: str) -> ApiResponse:
        row = self.db.scalars(select(ContactPreference).where(
            ContactPreference.agency_id == call.agency, ContactPreference.case_id == case_id)).first()
        if row is None:
            raise NotFound(f"no contact preferences for case {case_id}")
        write_audit_now(self.db.get_bind(), service=self.name, action="contact_preference.read",  # type: ignore[arg-type]
                        outcome="success", identity=call.identity, resource_type="contact_preference",
                        resource_id=case_id, source_ip=call.remote_addr, request_id=call.request_id, detail=None)
        return ApiResponse(self._preference_out(row), headers={"ETag": etag(case_id, row.version)})

    @api("PUT", "/v1/contact-preferences/<case_id>", roles={"case_manager", "supervisor", "admin"},
         body=ContactPreferenceIn, response=ContactPreferenceOut, responses={201: ContactPreferenceOut},
         headers=["If-Match"], errors=[412, 428],
         tags=["people"], summary="Set channel, language or do-not-contact (If-Match when they exist)")
    def put_contact_preference(self, call: Call, case_id: str) -> ApiResponse:
        body: ContactPreferenceIn = call.body
        now = self.runtime.now()
        row = self.db.scalars(select(ContactPreference).where(
            ContactPreference.agency_id == call.agency, ContactPreference.case_id == case_id
        ).with_for_update()).first()
        status = 200
        if row is None:
            row = ContactPreference(agency_id=call.agency, case_id=case_id, version=1)
            self.db.add(row)
            status = 201
        else:
            require_if_match(call, etag(case_id, row.version))
            row.version += 1
        row.channel, row.do_not_contact, row.updated_at = body.channel, body.do_not_contact, now
        if body.language:
            row.language = body.language
        self._audit(call, "contact_preference.saved", "contact_preference", case_id,
                    {"channel": body.channel, "do_not_contact": body.do_not_contact})
        self.db.commit()
        return ApiResponse(self._preference_out(row), status=status, headers={"ETag": etag(case_id, row.version)})

    @api_with_headers("POST", "/v1/sms/inbound", public=True, body=InboundSms,
                      media_type="application/x-www-form-urlencoded", status=204, errors=[403],
                      tags=["people"], summary="Inbound SMS from the provider: STOP / START (verified)")
    def sms_inbound(self, call: Call) -> ApiResponse:
        """The SMS provider's callback. No bearer token: the request proves itself with the shared secret
        (`DIVERSION_NOTIFICATIONS_SMS_INBOUND_SECRET`) or the provider's signature, else 403."""
        assert isinstance(call, HeaderCall)
        own: NotificationSettings = self.runtime.own
        params = parse_qsl(call.raw_body.decode("utf-8", "replace"), keep_blank_values=True)
        verified_by = verify_inbound(call.headers, params, shared_secret=own.sms_inbound_secret,
                                     auth_token=own.sms_auth_token, public_url=own.sms_inbound_url)
        form = dict(params)
        try:
            message = InboundSms.model_validate(form)
            phone = normalize_phone(message.From, own.sms_default_country_code)
        except (ValueError, InvalidPhoneNumber):
            raise UnprocessableContent("From must be a phone number and Body a text") from None
        keyword = parse_sms_keyword(message.Body)
        if keyword in (SmsKeyword.OPT_OUT, SmsKeyword.OPT_IN):
            row = self.db.get(SmsOptOut, phone, with_for_update=True)
            now = self.runtime.now()
            if row is None:
                row = SmsOptOut(phone=phone)
                self.db.add(row)
            row.opted_out, row.changed_at = keyword is SmsKeyword.OPT_OUT, now
            row.keyword = message.Body.strip().upper()[:20]
            write_audit(self.db, service=self.name, action=f"sms.{keyword.value}", outcome="success",
                        identity=None, resource_type="sms_opt_out", resource_id=None, source_ip=call.remote_addr,
                        request_id=call.request_id, detail={"verified_by": verified_by})
            self.db.commit()
        return ApiResponse(None, status=204)

    @api("GET", "/v1/appointments/<appointment_id>/reminders", person_data=True,
         roles={"case_manager", "supervisor", "admin"},
         response=list[ReminderOut], tags=["people"],
         summary="An appointment's reminders: when each is due, and whether it was queued or skipped (and why)")
    def list_reminders(self, call: Call, appointment_id: str) -> list[ReminderOut]:
        rows = self.db.scalars(select(Reminder).where(
            Reminder.agency_id == call.agency, Reminder.appointment_id == appointment_id
        ).order_by(Reminder.send_at)).all()
        if not rows:
            raise NotFound(f"no reminders for appointment {appointment_id}")
        self._audit_read(call, "reminder.listed", "appointment", appointment_id, {"ids": [r.id for r in rows]})
        return [ReminderOut.model_validate(row) for row in rows]

    # ---------------------------------------------------------------- templates

    @api("PUT", "/v1/templates/<name>", roles={"admin"}, body=TemplateOverrideIn, response=TemplateOverrideOut,
         tags=["templates"], summary="The agency's own text for one part of a template (sandboxed Jinja2)")
    def put_template(self, call: Call, name: str) -> TemplateOverrideOut:
        body: TemplateOverrideIn = call.body
        allowed_parts = (("sms",) if name in SMS_TEMPLATES else ()) + (
            ("subject", "txt", "html") if name in EMAIL_TEMPLATES else ())
        if not allowed_parts:
            raise NotFound(f"no template {name!r}")
        if body.part not in allowed_parts:
            raise UnprocessableContent(f"template {name!r} has the parts {', '.join(allowed_parts)}", errors=[
                {"field": "part", "message": f"one of {', '.join(allowed_parts)}", "type": "enum"}])
        key = f"{body.language}/{name}.{body.part}"
        try:
            TemplateRenderer({call.agency: {key: body.source}}).render(key, SAMPLE_CONTEXT[name], call.agency)
        except (TemplateInvalid, TemplateRefused, TemplateMissing) as exc:
            raise UnprocessableContent(str(exc), slug="template-invalid", errors=[
                {"field": "source", "message": str(exc)[:500], "type": "template"}]) from None
        row = self.db.scalars(select(TemplateOverride).where(
            TemplateOverride.agency_id == call.agency, TemplateOverride.key == key).with_for_update()).first()
        now = self.runtime.now()
        if row is None:
            row = TemplateOverride(agency_id=call.agency, key=key, version=0)
            self.db.add(row)
        row.source, row.version, row.updated_at, row.updated_by = body.source, row.version + 1, now, call.actor
        self._audit(call, "template.saved", "template", key)
        self.db.commit()
        return TemplateOverrideOut(key=key, source=row.source, version=row.version, updated_at=row.updated_at,
                                   updated_by=row.updated_by)

    @api("GET", "/v1/templates/<name>", roles={"admin"}, response=list[TemplateOverrideOut], tags=["templates"],
         summary="The agency's overrides of a template (parts not listed use the built-in text)")
    def get_template(self, call: Call, name: str) -> list[TemplateOverrideOut]:
        if name not in SMS_TEMPLATES and name not in EMAIL_TEMPLATES:
            raise NotFound(f"no template {name!r}")
        rows = self.db.scalars(select(TemplateOverride).where(TemplateOverride.agency_id == call.agency)).all()
        return [TemplateOverrideOut(key=row.key, source=row.source, version=row.version, updated_at=row.updated_at,
                                    updated_by=row.updated_by)
                for row in sorted(rows, key=lambda r: r.key) if row.key.split("/", 1)[1].rsplit(".", 1)[0] == name]

    # ---------------------------------------------------------------- events (ack after commit, inbox)

    def _managers(self, event: CloudEvent) -> list[str]:
        """The case manager of the case a service referral serves, when the event names the case."""
        case_id = getattr(event.data, "case_id", None)
        manager = case_manager_of(self.db, event.tenantid, case_id) if case_id else None
        return [manager] if manager else []

    def _partner(self, event: CloudEvent, org_id: str) -> None:
        if partner_deliveries(self.db, event, org_id, self.runtime.now()):
            self._wake_after_commit()

    @reliable_handler(ServiceReferralRequested)
    def on_service_referral_requested(self, event: CloudEvent) -> None:
        self._partner(event, event.data.organization_id)  # type: ignore[attr-defined]

    @reliable_handler(ServiceReferralStatusChanged)
    def on_service_referral_status_changed(self, event: CloudEvent) -> None:
        data: ServiceReferralStatusChanged = event.data  # type: ignore[assignment]
        self._partner(event, data.organization_id)
        if is_rejection(data.status):
            ctx = self.runtime.fanout_context()
            if staff_deliveries(self.db, event, "service_referral_rejected",
                                staff_context_for_rejection(data, ctx), ctx, direct=self._managers(event)):
                self._wake_after_commit()

    @reliable_handler(ServiceReferralEscalated)
    def on_service_referral_escalated(self, event: CloudEvent) -> None:
        data: ServiceReferralEscalated = event.data  # type: ignore[assignment]
        self._partner(event, data.organization_id)
        ctx = self.runtime.fanout_context()
        if staff_deliveries(self.db, event, "escalation", staff_context_for_escalation(data, ctx), ctx,
                            direct=self._managers(event)):
            self._wake_after_commit()

    @reliable_handler(CaseAssigned)
    def on_case_assigned(self, event: CloudEvent) -> None:
        data: CaseAssigned = event.data  # type: ignore[assignment]
        record_assignment(self.db, event.tenantid, data.case_id, data.case_manager, aware(data.assigned_at))  # type: ignore[arg-type]
        ctx = self.runtime.fanout_context()
        context = {"case_ref": data.case_id, "link": link(ctx, f"cases/{data.case_id}")}
        if staff_deliveries(self.db, event, "assignment", context, ctx, direct=[data.case_manager]):
            self._wake_after_commit()

    @reliable_handler(CheckinOverdue)
    def on_checkin_overdue(self, event: CloudEvent) -> None:
        data: CheckinOverdue = event.data  # type: ignore[assignment]
        ctx = self.runtime.fanout_context()
        due = aware(data.due_at)
        assert due is not None
        context = {"case_ref": data.case_id, "due_at": local(due, ctx),
                   "days_overdue": max((ctx.now - due).days, 0), "link": link(ctx, f"cases/{data.case_id}")}
        manager = case_manager_of(self.db, event.tenantid, data.case_id)
        if staff_deliveries(self.db, event, "checkin_overdue", context, ctx, direct=[manager] if manager else []):
            self._wake_after_commit()

    def _agency(self, event: CloudEvent) -> None:
        if agency_deliveries(self.db, event, self.runtime.now()):
            self._wake_after_commit()

    @reliable_handler(ReferralAccepted)
    def on_referral_accepted(self, event: CloudEvent) -> None:
        """To the agency's own system (agency subscriptions only)."""
        self._agency(event)

    @reliable_handler(ReferralDeclined)
    def on_referral_declined(self, event: CloudEvent) -> None:
        """To the agency's own system (agency subscriptions only)."""
        self._agency(event)

    @reliable_handler(ReferralDeferred)
    def on_referral_deferred(self, event: CloudEvent) -> None:
        """To the agency's own system (agency subscriptions only)."""
        self._agency(event)

    @reliable_handler(ReferralDisposed)
    def on_referral_disposed(self, event: CloudEvent) -> None:
        """The disposition (or a withdrawal) to the agency's own system (agency subscriptions only)."""
        self._agency(event)

    @reliable_handler(ReferralReviewDue)
    def on_referral_review_due(self, event: CloudEvent) -> None:
        """The screening team (staff contacts with the `screening_review` topic) is told a referral is back."""
        ctx = self.runtime.fanout_context()
        if staff_deliveries(self.db, event, "screening_review", staff_context_for_review(event.data, ctx), ctx):
            self._wake_after_commit()

    @reliable_handler(AppointmentScheduled)
    def on_appointment_scheduled(self, event: CloudEvent) -> None:
        own = self.runtime.own
        plan_appointment(self.db, event.tenantid, event.data, self.runtime.reminder_policy, self.runtime.now(),
                         own.sms_default_country_code)
        self._wake_after_commit()

    # ---------------------------------------------------------------- the delivery worker

    @delivery_timer(interval=1.0)
    def dispatch_due(self) -> None:
        """Every tick: queue due reminders, claim due deliveries, start their sends."""
        self.runtime.dispatch_pass()


__all__ = ["SETTINGS_CLASS", "NotificationsService", "AttemptStatus"]
