"""Event contracts: the CloudEvents envelope, the one catalog, and the AsyncAPI document generated from it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from shared.messaging.asyncapi import DEFAULT_PATH, generate, render
from shared.messaging.catalog import CATALOG, Participant, ReferralAccepted, ServiceReferralRequested
from shared.messaging.envelope import InvalidEvent, new_event, parse_event

REQUIRED = {
    "intake": {"referral.accepted", "referral.declined"},
    "casework": {
        "case.opened",
        "case.assigned",
        "case.plan_updated",
        "case.completed",
        "case.terminated",
        "case.withdrawn",
        "appointment.scheduled",
        "checkin.overdue",
        "case.contact_overdue",
        "case.end_approaching",
    },
    "resources": {"service_referral.requested", "service_referral.status_changed", "service_referral.escalated"},
    "notifications": {"delivery.failed"},
}


def accepted() -> ReferralAccepted:
    return ReferralAccepted(
        referral_id="r-1",
        case_number="2291-CR00123",
        program="felony-diversion",
        min_months=6,
        max_months=18,
        participant=Participant(
            first_name="Ana",
            last_name="Diaz",
            date_of_birth=date(1999, 4, 2),
            email="ana@example.org",
            preferred_language="es",
        ),
        accepted_at=datetime(2026, 1, 5, 15, 0, tzinfo=UTC),
        decided_by="prosecutor-7",
    )


def test_catalog_names_every_event_the_services_exchange() -> None:
    for service, names in REQUIRED.items():
        assert names <= {spec.name for spec in CATALOG.values() if spec.service == service}, service


def test_accepted_referral_travels_as_a_cloudevent_with_type_schema_and_tenant() -> None:
    event = new_event(accepted(), subject="r-1", tenantid="stl-cao")
    body = json.loads(event.to_bytes())
    assert body["specversion"] == "1.0"
    assert body["type"] == "org.diversion.intake.referral.accepted"
    assert body["source"] == "/diversion/intake"
    assert body["dataschema"] == "urn:diversion:schema:intake.referral.accepted:v1"
    assert body["tenantid"] == "stl-cao"
    assert body["dataclassification"] == "cjis"
    assert "tenantid" not in body["data"] and body["data"]["participant"]["preferred_language"] == "es"
    assert parse_event(event.to_bytes()) == event


def test_received_event_with_data_missing_a_field_is_rejected() -> None:
    body = new_event(accepted(), subject="r-1", tenantid="stl-cao").to_json_dict()
    del body["data"]["case_number"]
    with pytest.raises(InvalidEvent, match="case_number"):
        parse_event(body)


def test_received_event_of_an_unknown_type_is_rejected() -> None:
    body = new_event(accepted(), subject="r-1", tenantid="stl-cao").to_json_dict()
    body["type"] = "org.diversion.intake.referral.teleported"
    with pytest.raises(InvalidEvent, match="unknown event type"):
        parse_event(body)


def test_newer_publisher_adding_a_field_does_not_break_an_older_consumer() -> None:
    body = new_event(accepted(), subject="r-1", tenantid="stl-cao").to_json_dict()
    body["data"]["risk_level"] = "low"
    assert parse_event(body).data == accepted()


def test_partner_payload_never_carries_charges_history_or_case_numbers() -> None:
    schema = ServiceReferralRequested.model_json_schema()
    fields = set(schema["properties"])
    for definition in schema["$defs"].values():
        fields |= set(definition["properties"])
    assert "participant_name" in fields
    for name in fields:
        for forbidden in ("case_number", "case_id", "charge", "history", "conviction", "offense"):
            assert forbidden not in name
        assert name != "referral_id"


def test_asyncapi_document_describes_every_event_with_exchange_routing_key_and_schema() -> None:
    document = generate()
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == {f"{s.service}_{s.entity}_{s.verb}" for s in CATALOG.values()}
    schemas = document["components"]["schemas"]
    for key, channel in document["channels"].items():
        spec = CATALOG[channel["address"]]
        assert channel["bindings"]["amqp"]["exchange"]["name"] == f"diversion.{spec.service}.events"
        assert document["operations"][f"publish_{key}"]["channel"] == {"$ref": f"#/channels/{key}"}
        message = document["components"]["messages"][key]
        envelope = schemas[message["payload"]["$ref"].rsplit("/", 1)[-1]]
        assert envelope["properties"]["type"] == {"const": spec.type}
    # every $ref points at something that exists
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/')[1:]}:
        node = document
        for step in ref.split("/"):
            node = node[step]


def test_checked_in_asyncapi_document_is_the_generated_one() -> None:
    assert DEFAULT_PATH.read_text() == render(), "run: python -m shared.messaging.asyncapi"
