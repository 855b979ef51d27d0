"""Identity on the broker is signed by the sending service (ADR 0011): casework refuses an event or an RPC
call whose identity headers are unsigned or forged (the event is dead-lettered, the call answered with an
error), and still applies a genuine one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from kombu import Connection, Producer

from shared.messaging import dlq
from shared.messaging.catalog import Participant, ReferralAccepted
from shared.messaging.envelope import CloudEvent, new_event
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.topology import declare_publisher_topology, events_exchange_name
from tests.conftest import AMQP_URI, Api, make_token
from tests.support.signed import RemoteFailure, event_headers, rpc_call, rpc_headers
from tests.support.waiting import wait_for

ANOTHER_KEY = b"a-key-some-broker-login-made-up-0123456789"


def _accepted(agency: str) -> CloudEvent:
    data = ReferralAccepted(
        referral_id=f"ref-{uuid.uuid4().hex[:10]}", case_number=f"2522-CR{uuid.uuid4().hex[:6]}",
        program="young-adult", min_months=6, max_months=18,
        participant=Participant(first_name="Jordan", last_name="Doe", date_of_birth=date(2001, 5, 17)),
        accepted_at=datetime.now(UTC), decided_by="prosecutor-1",
    )
    return new_event(data, subject=data.referral_id, tenantid=agency)


def _publish(event: CloudEvent, headers: dict[str, Any], body: bytes | None = None) -> None:
    with Connection(AMQP_URI, transport_options={"confirm_publish": True}) as connection:
        declare_publisher_topology(connection, "intake")
        Producer(connection.channel()).publish(
            body or event.to_bytes(), exchange=events_exchange_name("intake"), routing_key=event.type,
            content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2,
            message_id=event.id, headers=headers)


def _cases(api: Api, agency: str) -> set[str]:
    items = api.get("/v1/cases?limit=200", make_token(agency, ("supervisor",))).json()["items"]
    return {case["referral_id"] for case in items}


def test_an_event_with_forged_identity_headers_is_refused_and_dead_lettered(
        start_service: Callable[..., Api], agency: str):
    casework = start_service("casework")
    victim = f"{agency}-v"
    unsigned, wrong_key, forged_actor, genuine = (_accepted(victim) for _ in range(4))
    _publish(unsigned, {"nameko.agency": victim, "nameko.sub": "mallory"})
    _publish(wrong_key, event_headers(wrong_key, {"nameko.sub": "mallory"}, key_bytes=ANOTHER_KEY))
    # A genuine signature of another event's body, replayed with a body naming another tenant:
    theirs = _accepted(agency)
    _publish(theirs, {**event_headers(theirs), "nameko.agency": victim},
             body=theirs.to_bytes().replace(agency.encode(), victim.encode()))
    # A genuine signed message whose identity headers were changed on the way:
    _publish(forged_actor, {**event_headers(forged_actor, {"nameko.sub": "prosecutor-1"}), "nameko.sub": "mallory"})
    _publish(genuine, event_headers(genuine, {"nameko.sub": "prosecutor-1"}))

    wait_for(lambda: genuine.subject in _cases(casework, victim), 30, "the genuine event applied")
    forged = {unsigned.id, wrong_key.id, theirs.id, forged_actor.id}

    def parked() -> dict[str, Any]:
        letters = {letter.event_id: letter for letter in dlq.list_dead_letters(AMQP_URI, "casework", 1000)}
        return {event_id: letters[event_id] for event_id in forged if event_id in letters}

    letters = wait_for(lambda: len(parked()) == len(forged) and parked(), 30, "the forged events dead-lettered")
    for letter in letters.values():
        assert letter.headers["x-diversion-error-type"] == "IdentityRefused"
        assert letter.attempts == 1  # refused on arrival, never retried
    assert _cases(casework, victim) == {genuine.subject}  # none of the forged referrals opened a case
    assert _cases(casework, agency) == set()
    # Replaying a refused letter does not launder it: the signature is checked again.
    dlq.replay_dead_letters(AMQP_URI, "casework", {unsigned.id})
    wait_for(lambda: unsigned.id in parked(), 30, "the replayed forged event refused again")
    assert _cases(casework, victim) == {genuine.subject}


@pytest.mark.parametrize("forgery", ["unsigned", "another key", "identity changed"])
def test_an_rpc_call_with_forged_identity_headers_is_refused_with_an_error(
        start_service: Callable[..., Api], agency: str, forgery: str):
    start_service("casework")
    context = {"agency": agency, "sub": "cm-1", "roles": ["case_manager"]}
    args = [str(uuid.uuid4()), "org-x", ["contact_info"], "service_referral", "2026-01-01"]
    assert rpc_call(AMQP_URI, "casework", "consent_covers", args, context)["covered"] is False  # genuine: answered

    def forged(payload: Any, correlation_id: str) -> dict[str, Any]:
        if forgery == "unsigned":
            return {f"nameko.{k}": v for k, v in context.items()}
        if forgery == "another key":
            return rpc_headers(payload, correlation_id, context, key_bytes=ANOTHER_KEY)
        return {**rpc_headers(payload, correlation_id, context), "nameko.agency": f"{agency}-v"}

    with pytest.raises(RemoteFailure) as refused:
        rpc_call(AMQP_URI, "casework", "consent_covers", args, context, sign=forged)
    assert refused.value.exc_type == "IdentityRefused"
