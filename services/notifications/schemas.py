"""Notifications' HTTP bodies (pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.http.pagination import PageQuery
from shared.types import Email, IsoDateTime

PARTNER_EVENT_NAMES = "service_referral.requested, service_referral.status_changed, service_referral.escalated"
AGENCY_EVENT_NAMES = "referral.accepted, referral.declined, referral.deferred, referral.disposed"


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["webhook", "amqp_feed"] = "webhook"
    audience: Literal["partner", "agency"] = Field(
        default="partner",
        description="partner: a partner organization's endpoint; agency: the agency's own case management system "
                    "(admins only, webhook only), which receives the prosecution record's events")
    url: str | None = Field(default=None, max_length=2000, description="https URL (webhook channel only)")
    event_types: list[str] = Field(
        default_factory=list, max_length=10,
        description=f"short or full event types; empty means all of the audience's: partner {PARTNER_EVENT_NAMES}; "
                    f"agency {AGENCY_EVENT_NAMES}",
    )
    organization_id: str | None = Field(
        default=None, max_length=64, description="admins only; a partner always subscribes its own organization"
    )
    description: str | None = Field(default=None, max_length=500)


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    org_id: str
    audience: str = "partner"
    channel: str
    url: str | None
    event_types: list[str]
    status: str
    created_at: IsoDateTime
    description: str | None = None
    disabled_reason: str | None = None
    previous_secret_expires_at: IsoDateTime | None = None
    version: int = 1


class SubscriptionWithSecret(SubscriptionOut):
    secret: str | None = Field(description="the `whsec_` signing secret; shown only in this response")


class PingResult(BaseModel):
    delivery_id: str
    outcome: str = Field(description="delivered, retry, failed or gone")
    status_code: int | None
    latency_ms: float | None
    error: str | None


class DeliveryQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    status: Literal["pending", "sending", "delivered", "failed", "cancelled", "withheld"] | None = None
    channel: str | None = Field(default=None, max_length=32)
    purpose: str | None = Field(default=None, max_length=64)
    subscription_id: str | None = Field(default=None, max_length=64)
    trigger_event_id: str | None = Field(default=None, max_length=200)


class DeliveryOut(BaseModel):
    id: str = Field(description="also the `webhook-id` header of every attempt")
    channel: str
    purpose: str
    subscription_id: str | None
    org_id: str | None
    recipient: str = Field(description="webhook URL or organization; email and phone are masked")
    trigger_event_id: str
    trigger_event_type: str
    status: str
    attempts: int
    next_attempt_at: IsoDateTime | None
    last_status_code: int | None
    last_error: str | None
    created_at: IsoDateTime
    updated_at: IsoDateTime
    delivered_at: IsoDateTime | None


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt_number: int
    attempted_at: IsoDateTime
    outcome: str
    status_code: int | None
    latency_ms: float | None
    error: str | None


StaffTopic = Literal["assignment", "service_referral_rejected", "escalation", "checkin_overdue",
                     "screening_review", "contact_overdue", "end_approaching", "plan_updated", "delivery_failed"]


class StaffContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=20)
    topics: list[StaffTopic] = Field(
        default_factory=list, max_length=9,
        description="agency-wide notices this person also receives (a case manager always gets their own)",
    )
    active: bool = True


class StaffContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    staff_id: str
    email: str
    name: str | None
    language: str | None
    topics: list[str]
    active: bool
    version: int
    updated_at: IsoDateTime


class ContactPreferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["sms", "email", "none"] | None = Field(
        default=None, description="none: no reminders; null: SMS when there is a phone number, else email"
    )
    language: str | None = Field(default=None, max_length=20)
    do_not_contact: bool = False


class ContactPreferenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: str
    channel: str | None
    language: str | None
    do_not_contact: bool
    has_phone: bool
    has_email: bool
    sms_opted_out: bool
    version: int
    updated_at: IsoDateTime


class ReminderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    appointment_id: str
    case_id: str
    offset_minutes: int
    send_at: IsoDateTime
    appointment_at: IsoDateTime
    status: str = Field(description="scheduled, queued (a delivery exists), skipped or cancelled")
    skip_reason: str | None
    delivery_id: str | None


class TemplateOverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["en", "es"]
    part: Literal["sms", "subject", "txt", "html"]
    source: str = Field(min_length=1, max_length=20_000)


class TemplateOverrideOut(BaseModel):
    key: str
    source: str
    version: int
    updated_at: IsoDateTime
    updated_by: str


class InboundSms(BaseModel):
    """Provider-style form fields (application/x-www-form-urlencoded)."""

    From: str = Field(max_length=40)
    Body: str = Field(max_length=1600)
