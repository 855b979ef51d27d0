"""The broker address: one AMQP URL, or the nodes of a RabbitMQ cluster as URLs separated by `;`.

`DIVERSION_AMQP_URI=amqp://u:p@rabbit-0:5672/;amqp://u:p@rabbit-1:5672/;amqp://u:p@rabbit-2:5672/` is
kombu's failover form: every `kombu.Connection` built from it (nameko's consumers and publishers, the
outbox relay, the dead-letter tools) starts at the first node and moves round-robin to the next one
when a node refuses or drops the connection. `connect()` is for code that establishes a connection
itself: it tries each node once before giving up, where kombu's `Connection.connect()` tries two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from kombu import Connection

SEPARATOR = ";"
SCHEMES = ("amqp://", "amqps://")


def broker_urls(uri: str) -> list[str]:
    """The node URLs of `uri`, in the order they are tried."""
    return [part.strip() for part in uri.split(SEPARATOR) if part.strip()]


def check_broker_uri(uri: str) -> str:
    """`uri` unchanged if every node URL is an AMQP URL; ValueError naming the bad one otherwise."""
    urls = broker_urls(uri)
    if not urls:
        raise ValueError("must name at least one broker URL")
    for position, url in enumerate(urls, start=1):
        if not url.startswith(SCHEMES):
            where = f"node {position} of {len(urls)} " if len(urls) > 1 else ""
            raise ValueError(f"{where}must start with amqp:// or amqps://")
    return SEPARATOR.join(urls)


def describe(uri: str) -> str:
    """The nodes without credentials, for messages and logs: `rabbit-0:5672/, rabbit-1:5672/`."""
    shown = []
    for url in broker_urls(uri):
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]
        shown.append(f"{host}{parts.path or '/'}")
    return ", ".join(shown)


def connect(uri: str, *, timeout: float = 5.0, **options: Any) -> Connection:
    """A connection established to the first node of `uri` that answers, each tried once in order.

    Raises the last node's connection error when none answers. `timeout` bounds each attempt
    (`connect_timeout`) and all of them together; `options` go to `kombu.Connection`.
    """
    from kombu import Connection

    connection = Connection(uri, connect_timeout=timeout, **options)
    try:
        connection.ensure_connection(max_retries=len(broker_urls(uri)) - 1, timeout=timeout * len(broker_urls(uri)))
    except BaseException:
        connection.release()
        raise
    return connection
