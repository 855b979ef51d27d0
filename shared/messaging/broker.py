"""Broker logins and what each may do: one user per service, partners read-only on their own feed (ADR 0011).

The grants are derived from the code, not kept by hand: a service's event handlers name the services it
consumes from, its `RpcProxy` dependencies the services it calls, its `@rpc` methods whether it answers.
From them come RabbitMQ's configure / write / read regexes and topic permissions, rendered two ways:

- `definitions()`: a RabbitMQ definitions document (`deploy/rabbitmq/definitions.json`, loaded by the
  compose stack's broker with `load_definitions`; `make broker-definitions` regenerates it and a test keeps
  it current);
- `provision()`: the same document imported into a running node with `rabbitmqctl import_definitions`
  (`diversion broker provision`), idempotently: existing users get their password and permissions again.

`guest` appears in neither: it exists only on the embedded default's local broker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.config import SERVICES

RPC_EXCHANGE = "nameko-rpc"
# nameko's reply routing keys are uuid4 strings.
REPLY_KEY = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # as the partner feed's names (services/notifications)
FEED_EXCHANGE = r"agency\.[A-Za-z0-9_-]+\.partner_feed"
FEED_QUEUE = r"partner\.[A-Za-z0-9_-]+\.feed"
OPERATOR = "diversion-operator"


@dataclass(frozen=True)
class TopicGrant:
    exchange: str
    write: str
    read: str


@dataclass(frozen=True)
class Grant:
    user: str
    configure: str
    write: str
    read: str
    topics: tuple[TopicGrant, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceShape:
    """What a service does on the broker, read from its class."""

    name: str
    sources: tuple[str, ...]  # services whose events it consumes
    calls: tuple[str, ...]  # services it calls over RPC
    answers_rpc: bool
    publishes_feeds: bool = False
    consumes_own: bool = False  # a handler of its own events (notifications' delivery.failed)


def shape_of(name: str, service_cls: type | None = None) -> ServiceShape:
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    from shared.messaging.consumer import ReliableEventHandler
    from shared.messaging.rpc import QuorumRpc, RpcProxy
    from shared.runner import service_class

    cls = service_cls or service_class(name)
    sources: set[str] = set()
    answers = False
    calls: set[str] = set()
    for attr in dir(cls):
        member = getattr(cls, attr, None)
        if isinstance(member, RpcProxy):
            calls.add(member.target_service)
        for entrypoint in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()) or ():
            if isinstance(entrypoint, ReliableEventHandler):
                sources.add(entrypoint.source_service)
            elif isinstance(entrypoint, QuorumRpc):
                answers = True
    # The AMQP partner feed is a notifications channel: it declares and publishes the agencies' feeds.
    return ServiceShape(name, tuple(sorted(sources - {name})), tuple(sorted(calls)), answers,
                        publishes_feeds=name == "notifications", consumes_own=name in sources)


def _alternatives(names: Iterable[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(set(names)))


def service_grant(shape: ServiceShape) -> Grant:
    own = rf"diversion\.{re.escape(shape.name)}\..*"
    uses_rpc = bool(shape.calls) or shape.answers_rpc
    configure, write, read = [own], [own], [own]
    if shape.sources:
        sources = _alternatives(shape.sources)
        # A consumer declares its sources' topology so start order does not matter (shared/messaging/topology):
        # configure those names, bind (write) their parking queues, and read (bind to) their exchanges. Never
        # write to a source's events exchange: only that service publishes its events.
        configure.append(rf"diversion\.({sources})\.(events|unrouted|dlx|dlq|dropped)")
        # (their parking queues dead-letter to their dlx, their bounded ones to their `dropped` exchange, and
        # declaring a queue with a dead-letter exchange needs write on it)
        write.append(rf"diversion\.({sources})\.(unrouted|dlq|dlx|dropped)")
        read.append(rf"diversion\.({sources})\.(events|unrouted|dlx|dropped)")
    if uses_rpc:
        configure.append(re.escape(RPC_EXCHANGE))
        write.append(re.escape(RPC_EXCHANGE))
        read.append(re.escape(RPC_EXCHANGE))
    if shape.publishes_feeds:
        configure += [FEED_EXCHANGE, FEED_QUEUE]
        write += [FEED_EXCHANGE, FEED_QUEUE]
        # read on a feed queue too: declaring a queue with a dead-letter exchange (its bound's) needs it
        read += [FEED_EXCHANGE, FEED_QUEUE]

    own_topics = rf"^org\.diversion\.{re.escape(shape.name)}\."
    topics = [TopicGrant(f"diversion.{shape.name}.events", own_topics, own_topics if shape.consumes_own else "^$")]
    for source in shape.sources:
        topics.append(TopicGrant(f"diversion.{source}.events", "^$", rf"^org\.diversion\.{re.escape(source)}\."))
    if uses_rpc:
        rpc_write = [REPLY_KEY] if shape.answers_rpc else []
        rpc_write += [rf"{re.escape(target)}\.[a-z_]+" for target in shape.calls]
        rpc_read = [REPLY_KEY] if shape.calls else []
        if shape.answers_rpc:
            rpc_read.append(rf"{re.escape(shape.name)}\.\*")
        topics.append(TopicGrant(RPC_EXCHANGE, f"^({'|'.join(rpc_write)})$", f"^({'|'.join(rpc_read) or '$^'})$"))
    return Grant(
        user=shape.name,
        configure=f"^({'|'.join(configure)})$",
        write=f"^({'|'.join(write)})$",
        read=f"^({'|'.join(read)})$",
        topics=tuple(topics),
    )


def partner_user(org_id: str) -> str:
    if not SAFE_ID.match(org_id):
        raise ValueError(f"organization id {org_id!r} may only contain letters, digits, '-' and '_'")
    return f"partner-{org_id}"


def partner_grant(org_id: str) -> Grant:
    """A partner's feed login: consume its own queue, nothing else (no declare, no publish, no bind)."""
    return Grant(user=partner_user(org_id), configure="^$", write="^$",
                 read=f"^partner\\.{re.escape(org_id)}\\.feed$")


def operator_grant() -> Grant:
    """The operator's login (dead-letter replay, provisioning checks): everything, management tag."""
    return Grant(user=OPERATOR, configure=".*", write=".*", read=".*", tags=("administrator",))


def grants(partners: Sequence[str] = (), services: Sequence[str] = SERVICES) -> list[Grant]:
    out = [service_grant(shape_of(name)) for name in services]
    out += [partner_grant(org) for org in partners]
    out.append(operator_grant())
    return out


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt + sha256(salt + password)), 4-byte salt."""
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(passwords: Mapping[str, str], vhost: str = "/", partners: Sequence[str] = (),
                salt: bytes | None = None) -> dict[str, Any]:
    """A RabbitMQ definitions document with every login and its permissions, and the policies bounding the
    unrouted, dead-letter and partner feed queues (shared/messaging/bounds.py); no exchanges or queues: the
    services declare those themselves."""
    from shared.messaging.bounds import policies

    chosen = grants(partners)
    missing = [g.user for g in chosen if g.user not in passwords]
    if missing:
        raise ValueError(f"no password for {', '.join(missing)}")
    return {
        "users": [{"name": g.user, "password_hash": password_hash(passwords[g.user], salt),
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": list(g.tags)} for g in chosen],
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": g.user, "vhost": vhost, "configure": g.configure, "write": g.write,
                         "read": g.read} for g in chosen],
        "topic_permissions": [{"user": g.user, "vhost": vhost, "exchange": t.exchange, "write": t.write,
                               "read": t.read} for g in chosen for t in g.topics],
        "policies": policies(vhost),
    }


@dataclass
class Rabbitmqctl:
    """rabbitmqctl against one node (`node` None: the local default)."""

    executable: str = "rabbitmqctl"
    node: str | None = None
    env: Mapping[str, str] | None = None
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, *args: str, secret: str | None = None) -> str:
        command = [self.executable, "-q"] + (["-n", self.node] if self.node else []) + list(args)
        self.calls.append([*command[:-1], "***"] if secret else command)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                env=dict(self.env) if self.env is not None else None)
        if result.returncode != 0:
            shown = " ".join(command[:-1] + ["***"] if secret else command)
            raise RuntimeError(f"{shown} failed ({result.returncode}): {(result.stderr or result.stdout).strip()}")
        return result.stdout


def provision(ctl: Rabbitmqctl, passwords: Mapping[str, str], *, vhost: str = "/", partners: Sequence[str] = (),
              remove_guest: bool = False) -> list[str]:
    """Create or update every login with its password and permissions; return what was done.

    One `rabbitmqctl import_definitions` of the same document `definitions()` renders (each rabbitmqctl
    call starts an Erlang VM: one import instead of dozens of calls); importing again sets the same
    passwords and grants, so running it twice changes nothing.
    """
    users = {line.split("\t")[0] for line in ctl("list_users", "--no-table-headers").splitlines() if line}
    document = definitions(passwords, vhost=vhost, partners=partners)
    descriptor, path = tempfile.mkstemp(prefix="diversion-broker-", suffix=".json")  # mode 0600: hashes inside
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump(document, handle)
        ctl("import_definitions", path)
    finally:
        os.unlink(path)
    done = [f"user {user['name']}: {'updated' if user['name'] in users else 'added'}" for user in document["users"]]
    done.append(f"permissions and topic permissions on {vhost} set for {len(document['users'])} users")
    done.append(f"{len(document['policies'])} queue bound policies set on {vhost} (ADR 0085)")
    if remove_guest and "guest" in users:
        ctl("delete_user", "guest")
        done.append("user guest deleted")
    return done
