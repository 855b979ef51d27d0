"""The broker as a trust boundary, on a RabbitMQ node of the test's own: `diversion broker provision` gives
each service a login limited to its own names, and a partner's feed login can read its own queue and
publish nowhere. The shared node's users are never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection, Exchange, Producer, Queue

from conftest import OwnBroker, wait_for
from services.notifications.channels.amqp_feed import ensure_partner_feed, feed_exchange, feed_routing_key
from shared.config import SERVICES
from shared.messaging import broker
from shared.messaging.broker_cli import password_variable
from shared.messaging.topology import declare_publisher_topology, dlx_name, events_exchange_name, unrouted_name

ROOT = Path(__file__).resolve().parents[3]
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
ORG, OTHER_ORG, AGENCY = "org-feed-1", "org-feed-2", "stl-cao"


def _password(user: str) -> str:
    return f"pw-{user}-{uuid.uuid5(uuid.NAMESPACE_DNS, user).hex[:12]}"


def _uri(own: OwnBroker, user: str) -> str:
    return f"amqp://{user}:{_password(user)}@127.0.0.1:{own.port}/"


def _provision(own: OwnBroker) -> subprocess.CompletedProcess[str]:
    env = {**own.env, "PYTHONPATH": str(ROOT)}
    for grant in broker.grants((ORG, OTHER_ORG)):
        env[password_variable(grant.user)] = _password(grant.user)
    return subprocess.run(
        [sys.executable, "-m", "shared.main", "broker", "provision", "--node", own.node, "--rabbitmqctl", CTL,
         "--partner", ORG, "--partner", OTHER_ORG, "--remove-guest"],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )


def _ctl(own: OwnBroker, *args: str) -> str:
    return subprocess.run([CTL, "-q", "-n", own.node, *args], env=own.env, capture_output=True, text=True,
                          timeout=60, check=True).stdout


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Any:
    own = OwnBroker(tmp_path_factory.mktemp("rabbit-trust"))
    own.start()
    try:
        first = _provision(own)
        assert first.returncode == 0, first.stderr
        before = (_ctl(own, "list_users", "--no-table-headers"), _ctl(own, "list_permissions", "--no-table-headers"),
                  _ctl(own, "list_topic_permissions", "--no-table-headers"))
        again = _provision(own)  # idempotent: the same logins and grants, nothing fails
        assert again.returncode == 0, again.stderr
        after = (_ctl(own, "list_users", "--no-table-headers"), _ctl(own, "list_permissions", "--no-table-headers"),
                 _ctl(own, "list_topic_permissions", "--no-table-headers"))
        assert sorted(before[0].splitlines()) == sorted(after[0].splitlines())
        assert sorted(before[1].splitlines()) == sorted(after[1].splitlines())
        assert sorted(before[2].splitlines()) == sorted(after[2].splitlines())
        assert "guest" not in {line.split("\t")[0] for line in after[0].splitlines()}
        # The suite's names exist, as the services declare them, so a refusal below is about permissions.
        with Connection(_uri(own, broker.OPERATOR)) as connection:
            for service in SERVICES:
                declare_publisher_topology(connection, service)
            Exchange(broker.RPC_EXCHANGE, type="topic", durable=True)(connection.default_channel).declare()
        with Connection(_uri(own, "notifications")) as connection:
            ensure_partner_feed(connection, ORG, AGENCY)
            ensure_partner_feed(connection, OTHER_ORG, AGENCY)
        yield own
    finally:
        own.stop()


def _publish(uri: str, exchange: str, routing_key: str, body: bytes = b"{}") -> None:
    with Connection(uri, transport_options={"confirm_publish": True}) as connection:
        producer = Producer(connection.channel())
        producer.publish(body, exchange=exchange, routing_key=routing_key, content_type="application/json",
                         retry=False)


def _refused(uri: str, exchange: str, routing_key: str) -> bool:
    try:
        _publish(uri, exchange, routing_key)
    except AccessRefused:
        return True
    return False


def _suite_exchanges() -> list[tuple[str, str]]:
    """Every exchange of the suite, with a routing key its rightful publisher would use."""
    found = []
    for service in SERVICES:
        found += [(events_exchange_name(service), f"org.diversion.{service}.thing.happened"),
                  (dlx_name(service), "x"), (unrouted_name(service), "x")]
    found += [(broker.RPC_EXCHANGE, "casework.consent_covers"),
              (feed_exchange(AGENCY).name, feed_routing_key(ORG, "x")),
              ("", f"partner.{ORG}.feed"), ("", "diversion.casework.dlq")]
    return found


def test_a_partners_broker_login_cannot_publish_to_any_suite_exchange(provisioned: OwnBroker):
    partner = _uri(provisioned, broker.partner_user(ORG))
    accepted = [name or "(default)" for name, key in _suite_exchanges() if not _refused(partner, name, key)]
    assert accepted == [], "a partner's login published to these exchanges"


def test_a_partner_reads_its_own_feed_only_and_declares_nothing(provisioned: OwnBroker):
    partner = _uri(provisioned, broker.partner_user(ORG))
    _publish(_uri(provisioned, "notifications"), feed_exchange(AGENCY).name, feed_routing_key(ORG, "ping"),
             json.dumps({"hello": ORG}).encode())
    received: list[Any] = []
    with Connection(partner) as connection:
        queue = Queue(f"partner.{ORG}.feed", no_declare=True)
        with connection.Consumer(queue, callbacks=[lambda body, message: (received.append(body), message.ack())],
                                 accept=["json"]):
            wait_for(lambda: connection.drain_events(timeout=5) or received, 20, "the partner's feed message")
    assert received == [{"hello": ORG}]
    with Connection(partner) as connection, pytest.raises(AccessRefused):
        Queue(f"partner.{OTHER_ORG}.feed", no_declare=True)(connection.channel()).queue_declare(passive=False)
    with Connection(partner) as connection, pytest.raises(AccessRefused), \
            connection.Consumer(Queue(f"partner.{OTHER_ORG}.feed", no_declare=True), callbacks=[]):
        connection.drain_events(timeout=2)


def test_each_service_publishes_only_its_own_events(provisioned: OwnBroker):
    intake, casework = _uri(provisioned, "intake"), _uri(provisioned, "casework")
    _publish(intake, events_exchange_name("intake"), "org.diversion.intake.referral.accepted")
    assert _refused(casework, events_exchange_name("intake"), "org.diversion.intake.referral.accepted")
    # Topic permission: not another service's event type, even on its own exchange.
    assert _refused(intake, events_exchange_name("intake"), "org.diversion.casework.case.opened")
    assert _refused(_uri(provisioned, "notifications"), broker.RPC_EXCHANGE, "casework.consent_covers")


def test_the_checked_in_definitions_file_holds_the_provisioned_grants():
    from shared.messaging.broker_cli import render_definitions

    env_keys = [k for k in os.environ if k.startswith("DIVERSION_BROKER_PASSWORD_")]
    assert not env_keys, "the test renders the local defaults"
    checked_in = (ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text()
    assert checked_in == render_definitions(), "deploy/rabbitmq/definitions.json is stale: run make broker-definitions"
    document = json.loads(checked_in)
    assert "guest" not in {user["name"] for user in document["users"]}
    assert {user["name"] for user in document["users"]} >= set(SERVICES)


def test_the_four_services_run_under_their_own_logins(provisioned: OwnBroker, start_service: Any, agency: str):
    """Start-up declares every queue and binding; an event crosses from intake to casework; resources' login
    calls casework's consent check: all within the provisioned grants."""
    from tests.conftest import make_token
    from tests.integration.intake.intake_api_support import install_pack, referral_body
    from tests.support.signed import rpc_call

    apis = {service: start_service(service, DIVERSION_AMQP_URI=_uri(provisioned, service)) for service in SERVICES}
    for api in apis.values():
        assert api.get("/readyz").json()["checks"]["broker"] == "ok"
    install_pack(apis["intake"], agency)
    screener = make_token(agency, ("screener",))
    referral = apis["intake"].post("/v1/referrals", screener, json=referral_body())
    assert referral.status_code == 201, referral.text
    decided = apis["intake"].post(f"/v1/referrals/{referral.json()['id']}/decision", screener,
                                  json={"action": "accept", "program": "young-adult"},
                                  headers={"If-Match": referral.headers["ETag"]})
    assert decided.status_code == 200, decided.text
    supervisor = make_token(agency, ("supervisor",))

    def opened() -> Any:
        items = apis["casework"].get("/v1/cases", supervisor).json()["items"]
        return next((c for c in items if c["referral_id"] == referral.json()["id"]), None)

    case = wait_for(opened, 30, "the case opened from intake's event, under the provisioned logins")
    answer = rpc_call(_uri(provisioned, "resources"), "casework", "consent_covers",
                      [case["participant_id"], "org-x", ["contact_info"], "service_referral", "2026-01-01"],
                      {"agency": agency, "sub": "cm-1", "roles": ["case_manager"]},
                      reply_queue=f"diversion.resources.rpc-reply.{uuid.uuid4()}")
    assert answer["covered"] is False
