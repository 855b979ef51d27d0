"""Rows as the API's bodies (every timestamp column is `UtcDateTime`, so already aware)."""

from __future__ import annotations

from typing import Any

from services.notifications.domain.routing import mask_recipient
from services.notifications.models import ContactPreference, Delivery, Subscription, TemplateOverride
from services.notifications.schemas import (
    ContactPreferenceOut,
    DeliveryOut,
    SubscriptionOut,
    SubscriptionWithSecret,
    TemplateOverrideOut,
)
from shared.http import ApiResponse
from shared.http.concurrency import etag


def subscription_out(row: Subscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(row)


def with_secret(row: Subscription, secret: str | None) -> SubscriptionWithSecret:
    """The subscription with its signing secret: shown once, when it is created or rotated."""
    return SubscriptionWithSecret(**subscription_out(row).model_dump(), secret=secret)


def tagged(body: Any, row: Any, status: int = 200) -> ApiResponse:
    return ApiResponse(body, status=status, headers={"ETag": etag(row.id if hasattr(row, "id") else "", row.version)})


def delivery_out(row: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=row.id, channel=row.channel, purpose=row.purpose, subscription_id=row.subscription_id,
        org_id=row.org_id, recipient=mask_recipient(row.channel, row.recipient),
        trigger_event_id=row.trigger_event_id, trigger_event_type=row.trigger_event_type, status=row.status,
        attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_status_code=row.last_status_code,
        last_error=row.last_error, created_at=row.created_at, updated_at=row.updated_at,
        delivered_at=row.delivered_at,
    )


def preference_out(row: ContactPreference, sms_opted_out: bool) -> ContactPreferenceOut:
    return ContactPreferenceOut(
        case_id=row.case_id, channel=row.channel, language=row.language, do_not_contact=row.do_not_contact,
        has_phone=bool(row.phone), has_email=bool(row.email), sms_opted_out=sms_opted_out, version=row.version,
        updated_at=row.updated_at,
    )


def template_override_out(row: TemplateOverride) -> TemplateOverrideOut:
    return TemplateOverrideOut(key=row.key, source=row.source, version=row.version, updated_at=row.updated_at,
                               updated_by=row.updated_by)
