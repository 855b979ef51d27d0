"""Helpers for intake's API tests: referral bodies, installing the demo pack for a test agency, a broker tap."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from kombu import Connection, Exchange, Producer, Queue

from services.intake.domain.ruleset import bundled_pack_text
from shared.messaging import new_event
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.topology import declare_publisher_topology, events_exchange_name
from tests.conftest import AMQP_URI, make_token
from tests.support.signed import event_headers
from tests.support.waiting import wait_for


def charge(statute: str = "570.030", offense_class: str = "felony_d", offense_date: str = "2026-03-01",
           description: str = "Stealing", violent: bool | None = None) -> dict[str, Any]:
    return {"statute": statute, "description": description, "offense_class": offense_class,
            "offense_date": offense_date, "violent": violent}


def referral_body(*, case_number: str | None = None, first_name: str = "Dana", last_name: str = "Brooks",
                  dob: str = "2003-04-05", charges: list[dict[str, Any]] | None = None,
                  convictions: list[dict[str, Any]] | None = None, diversions: list[dict[str, Any]] | None = None,
                  **defendant: Any) -> dict[str, Any]:
    return {
        "source": "police",
        "case_number": case_number or f"2611-CR{uuid.uuid4().hex[:6].upper()}",
        "defendant": {
            "first_name": first_name, "last_name": last_name, "date_of_birth": dob, "sex": "female",
            "race": "Black", "ethnicity": "not_hispanic", "phone": "(314) 555-0134", "email": "dana@example.org",
            "address": {"line1": "1520 Market St", "city": "St. Louis", "state": "MO", "postal_code": "63103"},
            **defendant,
        },
        "charges": charges if charges is not None else [charge()],
        "history": {"convictions": convictions or [], "prior_diversions": diversions or [], "pending_cases": 0},
    }


def demo_pack(agency: str, version: str = "2026.1") -> dict[str, Any]:
    """The bundled St. Louis pack, as the test agency's own."""
    pack: dict[str, Any] = yaml.safe_load(bundled_pack_text("stl-cao"))
    pack["agency"], pack["version"] = agency, version
    return pack


def install_pack(api: Any, agency: str, pack: dict[str, Any] | None = None) -> dict[str, Any]:
    response = api.post("/v1/rulesets", token=make_token(agency, ("admin",)), json=pack or demo_pack(agency))
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def submit(api: Any, agency: str, body: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    response = api.post("/v1/referrals", token=make_token(agency, ("screener",)), json=body or referral_body(),
                        **kwargs)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def decide(api: Any, agency: str, referral_id: str, decision: dict[str, Any], role: str = "screener",
           etag: str | None = None) -> Any:
    if etag is None:
        etag = api.get(f"/v1/referrals/{referral_id}", token=make_token(agency, ("supervisor",))).headers["ETag"]
    return api.post(f"/v1/referrals/{referral_id}/decision", token=make_token(agency, (role,), sub=f"{role}-1"),
                    json=decision, headers={"If-Match": etag})


@contextmanager
def event_tap(service: str, event_type: str) -> Iterator[Callable[[str, float], dict[str, Any]]]:
    """A test queue bound to a service's events exchange (the topology shared.messaging declares); deleted after.

    Yields `next_for(subject, timeout)`: the next event about that subject (events of other tests are skipped).
    """
    name = f"test.intake.tap.{uuid.uuid4().hex[:10]}"
    with Connection(AMQP_URI) as connection:
        declare_publisher_topology(connection, service)
        queue = Queue(name, exchange=Exchange(events_exchange_name(service), type="topic", passive=True),
                      routing_key=event_type, durable=False, auto_delete=False)
        channel = connection.channel()
        queue(channel).declare()

        def next_for(subject: str, timeout: float = 10.0) -> dict[str, Any]:
            def fetch() -> dict[str, Any] | None:
                message = queue(channel).get(no_ack=True, accept=["application/json", CLOUDEVENTS_CONTENT_TYPE])
                if message is None:
                    return None
                event: dict[str, Any] = json.loads(message.body)
                event["_headers"] = dict(message.headers or {})
                return event if event.get("subject") == subject else None

            found: dict[str, Any] = wait_for(fetch, timeout, f"{event_type} about {subject}")
            return found

        try:
            yield next_for
        finally:
            queue(channel).delete()
            channel.close()


def publish_as_casework(data: Any, *, subject: str, agency: str, event_id: str | None = None) -> str:
    """Publish a casework event the way casework's outbox relay does (CloudEvent, confirmed, to its exchange)."""
    event = new_event(data, subject=subject, tenantid=agency, event_id=event_id)
    with Connection(AMQP_URI, transport_options={"confirm_publish": True}) as connection:
        declare_publisher_topology(connection, "casework")
        producer = Producer(connection.channel())
        producer.publish(event.to_bytes(), exchange=events_exchange_name("casework"), routing_key=event.type,
                         content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2,
                         message_id=event.id,
                         headers=event_headers(event, {"nameko.agency": agency, "nameko.sub": "cm-1"}),
                         mandatory=True)
    return event.id
