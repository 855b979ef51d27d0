"""Vocabularies more than one service speaks, each defined once (plain enums: a domain may import them).

The event catalog (`shared.messaging.catalog`) types its payloads with them, so the published contract and every
service's rules use the same values.
"""

from __future__ import annotations

from enum import StrEnum


class ServiceReferralStatus(StrEnum):
    """A service referral's status, the FHIR ServiceRequest/Task set, which resources keeps and publishes and casework
    reads: requested -> received -> accepted | rejected -> in-progress -> completed | cancelled | failed."""

    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
