"""`DIVERSION_AMQP_URI` names one broker or the nodes of a cluster (`;`-separated, kombu's failover form)."""

from __future__ import annotations

import pytest
from kombu import Connection

from shared.brokers import broker_urls, describe
from shared.config import ConfigError, load_settings
from shared.runner import broker_hint

CLUSTER = "amqp://svc:pw@rabbit-0:5672/diversion;amqp://svc:pw@rabbit-1:5672/diversion; amqp://svc:pw@rabbit-2:5672/diversion"


def settings(uri: str):
    return load_settings("intake", env={"DIVERSION_AMQP_URI": uri, "DIVERSION_DATA_DIR": "/tmp"})


def test_a_cluster_of_three_nodes_is_accepted_in_the_order_given():
    uri = settings(CLUSTER).common.amqp_uri
    assert broker_urls(uri) == [f"amqp://svc:pw@rabbit-{n}:5672/diversion" for n in range(3)]
    assert settings(CLUSTER).nameko_config()["AMQP_URI"] == uri


def test_every_connection_built_from_it_fails_over_to_the_other_nodes():
    # kombu reads the same `;` list: its alternates are the nodes, tried round-robin from the first.
    connection = Connection(settings(CLUSTER).common.amqp_uri)
    assert connection.hostname == "rabbit-0"
    assert connection.alt == broker_urls(CLUSTER)
    connection.maybe_switch_next()
    assert (connection.hostname, connection.virtual_host) == ("rabbit-1", "diversion")


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("http://rabbit-0:5672/", "must start with amqp:// or amqps://"),
        ("amqp://rabbit-0:5672/;http://rabbit-1:5672/", "node 2 of 2 must start with amqp://"),
        (";", "at least one broker URL"),
    ],
)
def test_a_bad_node_stops_the_service_naming_the_variable(uri: str, says: str):
    with pytest.raises(ConfigError) as raised:
        settings(uri)
    assert "DIVERSION_AMQP_URI" in str(raised.value) and says in str(raised.value)


def test_messages_name_every_node_and_no_password():
    assert describe(CLUSTER) == "rabbit-0:5672/diversion, rabbit-1:5672/diversion, rabbit-2:5672/diversion"
    assert "pw" not in broker_hint(CLUSTER) and "rabbit-2:5672" in broker_hint(CLUSTER)
