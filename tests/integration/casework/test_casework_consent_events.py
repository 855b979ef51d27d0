# ruff: noqa: F811 - the `participant` fixture is imported from test_casework_consent and requested by name
"""Consent changes are events (ADR 0070): consent.recorded and consent.revoked in the change's transaction,
consent.expired once per consent from the timer (whatever the number of sweeps), and a §2.35 consent whose
revocation is refused publishes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from services.casework.usecases import consent_events
from shared.messaging.outbox import record
from tests.integration.casework.conftest import outbox_events
from tests.integration.casework.test_casework_consent import TODAY, add_consent, participant  # noqa: F401


def consent_events_of(engine, agency, consent_id, short_type):
    return [e for e in outbox_events(engine, agency, short_type) if e["data"]["consent_id"] == consent_id]


def test_recording_and_revoking_a_consent_publish_it_for_the_services_that_copy_it(tenant, participant, engine):
    _, person = participant
    consent = add_consent(tenant, person)
    (recorded,) = consent_events_of(engine, tenant.slug, consent.json()["id"], "consent.recorded")
    facts = recorded["data"]
    assert facts["participant_id"] == person and facts["person_id"] == person and facts["valid"] is True
    assert facts["categories"] == ["contact_info", "needs_assessment"] and facts["purposes"] == ["service_referral"]
    assert facts["revoked_on"] is None and "signature" not in facts and "participant_name" not in facts
    revoke = tenant.api.post(f"/v1/participants/{person}/consents/{consent.json()['id']}/revocation",
                             token=tenant.manager_token(), json={"method": "written"},
                             headers={"If-Match": consent.headers["ETag"]})
    assert revoke.status_code == 200, revoke.text
    (revoked,) = consent_events_of(engine, tenant.slug, consent.json()["id"], "consent.revoked")
    assert revoked["data"]["revoked_on"] == TODAY.isoformat()


def test_an_unsigned_draft_travels_as_not_valid(tenant, participant, engine):
    _, person = participant
    draft = add_consent(tenant, person, signature=None).json()
    (recorded,) = consent_events_of(engine, tenant.slug, draft["id"], "consent.recorded")
    assert recorded["data"]["valid"] is False


def test_a_consent_past_its_date_is_announced_expired_once(tenant, participant, engine):
    _, person = participant
    soon = add_consent(tenant, person, expires_on=(TODAY + timedelta(days=10)).isoformat()).json()
    lasting = add_consent(tenant, person, expires_on=(TODAY + timedelta(days=300)).isoformat()).json()
    later = datetime.now(UTC) + timedelta(days=11)
    counts = []
    for _ in range(3):  # three sweeps (or three replicas one after another)
        with Session(engine) as session, session.begin():
            emit = lambda e: record(session, e, service="casework")  # noqa: E731 - used at once
            counts.append(consent_events.announce_expired(session, emit, later))
    assert counts[0] >= 1 and counts[1:] == [0, 0]
    (expired,) = consent_events_of(engine, tenant.slug, soon["id"], "consent.expired")
    assert expired["data"]["expires_on"] == (TODAY + timedelta(days=10)).isoformat()
    assert consent_events_of(engine, tenant.slug, lasting["id"], "consent.expired") == []


def test_a_deferred_2_35_revocation_publishes_nothing(tenant, participant, engine):
    _, person = participant
    consent = add_consent(tenant, person, kind="criminal_justice", purposes=["progress_monitoring"],
                          right_to_revoke_acknowledged=False, expires_on=None, expiry_event="final_disposition",
                          revocable_upon="final_disposition", categories=["attendance", "plan_goals"])
    early = tenant.api.post(f"/v1/participants/{person}/consents/{consent.json()['id']}/revocation",
                            token=tenant.manager_token(), json={"method": "oral"},
                            headers={"If-Match": consent.headers["ETag"]})
    assert early.status_code == 409
    assert consent_events_of(engine, tenant.slug, consent.json()["id"], "consent.revoked") == []
