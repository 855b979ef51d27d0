"""Every event type of the catalog is answered: some service's reliable handler consumes it, and the AsyncAPI
document lists that consumer (an event nobody reads is a notice nobody gets)."""

from __future__ import annotations

from shared.messaging import asyncapi
from shared.messaging.catalog import CATALOG


def test_every_catalog_event_type_has_a_subscriber_in_some_service() -> None:
    consumed = {handler.spec.type for handler in asyncapi.handlers_in_code()}
    unanswered = sorted(set(CATALOG) - consumed)
    assert unanswered == [], f"no service consumes {unanswered}: add a @reliable_handler for each"


def test_the_asyncapi_document_lists_a_receive_operation_for_every_event_it_documents() -> None:
    document = asyncapi.generate()
    received = {operation["channel"]["$ref"] for operation in document["operations"].values()
                if operation["action"] == "receive"}
    sent = {operation["channel"]["$ref"] for operation in document["operations"].values()
            if operation["action"] == "send"}
    assert sent, "the document documents no events"
    assert sorted(sent - received) == []


def test_the_check_fails_for_an_event_without_a_consumer() -> None:
    """The check is not vacuous: leave one handler out and its event shows up as unanswered."""
    handlers = asyncapi.handlers_in_code()
    dropped = handlers[0].spec.type
    rest = [h for h in handlers if h.spec.type != dropped]
    assert dropped in set(CATALOG) - {h.spec.type for h in rest}
    document = asyncapi.generate(rest)
    received = {op["channel"]["$ref"] for op in document["operations"].values() if op["action"] == "receive"}
    sent = {op["channel"]["$ref"] for op in document["operations"].values() if op["action"] == "send"}
    assert sent - received
