"""RPC with a deadline: `RpcProxy` raises `RpcTimeout` instead of waiting forever, and `rpc` serves on a quorum queue.

    class CaseworkService:
        name = "casework"
        resources = RpcProxy("resources")          # timeout: settings.common.rpc_timeout_seconds

        def share(self, ...):
            try:
                self.resources.check_consent(...)
            except ConsentRequired: ...
            except RpcTimeout: ...

The caller's identity context (`agency`, `sub`, `roles`, `traceparent`, `request_id`) travels as headers
and is restored into the callee's worker context. A request expires on the broker at the deadline, so a
stopped service does not act on calls nobody waits for any more.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import eventlet
from kombu import Queue
from kombu.serialization import dumps as kombu_dumps
from kombu.serialization import loads as kombu_loads
from nameko.containers import WorkerContext
from nameko.rpc import RPC_REPLY_QUEUE_TTL, MethodProxy, ReplyListener, Rpc, RpcConsumer, get_rpc_exchange
from nameko.rpc import RpcProxy as NamekoRpcProxy
from nameko.rpc import ServiceProxy as NamekoServiceProxy

from shared.messaging import signing
from shared.messaging.errors import RpcTimeout
from shared.messaging.service import delivery_limit_of, rpc_timeout_of
from shared.messaging.topology import declare_consumer_topology, quorum_arguments

log = logging.getLogger(__name__)


class TimedMethodProxy(MethodProxy):  # type: ignore[misc]  # nameko's MethodProxy is untyped
    def __init__(self, *args: Any, timeout: float, signing_key: bytes, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(*args, **kwargs)
        publish = self.publisher.publish
        signer = self.worker_ctx.container.service_name

        def publish_expiring(payload: Any, **options: Any) -> Any:
            # The request expires when the caller stops waiting (kombu takes seconds).
            options.setdefault("expiration", timeout)
            # The caller's identity headers, signed (ADR 0011): the callee refuses a call without it.
            headers = dict(options.get("extra_headers") or {})
            headers.update(signing.signature_headers(
                headers, signer=signer, message_id=options["correlation_id"],
                digest=signing.payload_digest(_as_received(payload, options.get("serializer"))), key=signing_key))
            options["extra_headers"] = headers
            return publish(payload, **options)

        self.publisher.publish = publish_expiring

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        timer = eventlet.Timeout(self.timeout)
        reply = None
        try:
            reply = self._call(*args, **kwargs)
            return reply.result()
        except eventlet.Timeout as exc:
            if exc is not timer:
                raise
            if reply is not None:
                waiting = self.reply_listener._reply_events
                for key, event in list(waiting.items()):
                    if event is reply.reply_event:
                        waiting.pop(key, None)
            raise RpcTimeout(self.service_name, self.method_name, self.timeout) from None
        finally:
            timer.cancel()


def _as_received(payload: Any, serializer: str | None) -> Any:
    """The payload as the callee will decode it (the digest is over that, not over Python objects)."""
    content_type, encoding, data = kombu_dumps(payload, serializer=serializer or "json")
    return kombu_loads(data, content_type, encoding)


class TimedServiceProxy(NamekoServiceProxy):  # type: ignore[misc]  # nameko's NamekoServiceProxy is untyped
    def __init__(self, *args: Any, timeout: float, signing_key: bytes, **kwargs: Any) -> None:
        self.timeout = timeout
        self.signing_key = signing_key
        super().__init__(*args, **kwargs)

    def __getattr__(self, name: str) -> TimedMethodProxy:
        return TimedMethodProxy(
            self.worker_ctx, self.service_name, name, self.reply_listener, timeout=self.timeout,
            signing_key=self.signing_key, **self.options
        )


class QuorumReplyListener(ReplyListener):  # type: ignore[misc]  # nameko's ReplyListener is untyped
    """The caller's reply queue: quorum like every other queue, expiring when its process is gone."""

    def setup(self) -> None:
        service = self.container.service_name
        reply_id = uuid.uuid4()
        self.routing_key = str(reply_id)
        self.queue = Queue(
            f"diversion.{service}.rpc-reply.{reply_id}",
            exchange=get_rpc_exchange(self.container.config),
            routing_key=self.routing_key,
            durable=True,
            queue_arguments={**quorum_arguments(service), "x-expires": RPC_REPLY_QUEUE_TTL},
        )
        self.queue_consumer.register_provider(self)


class RpcProxy(NamekoRpcProxy):  # type: ignore[misc]  # nameko's NamekoRpcProxy is untyped
    """Dependency: `self.<attr>.<method>(...)` on `target_service`, raising `RpcTimeout` after `timeout` s."""

    rpc_reply_listener = QuorumReplyListener()

    def __init__(self, target_service: str, timeout: float | None = None, **options: Any) -> None:
        self.timeout_override = timeout
        super().__init__(target_service, **options)

    def setup(self) -> None:
        self.timeout = self.timeout_override or rpc_timeout_of(self.container)
        self.signing_key = signing.key_of(self.container)
        super().setup()

    def get_dependency(self, worker_ctx: WorkerContext) -> TimedServiceProxy:
        return TimedServiceProxy(
            worker_ctx, self.target_service, self.rpc_reply_listener, timeout=self.timeout,
            signing_key=self.signing_key, **self.options
        )


class QuorumRpcConsumer(RpcConsumer):  # type: ignore[misc]  # nameko's RpcConsumer is untyped
    """nameko's RPC request queue, declared as a quorum queue with the service's dead-letter exchange."""

    def setup(self) -> None:
        if self.queue is None:
            service = self.container.service_name
            from kombu import Connection

            with Connection(self.container.config["AMQP_URI"], connect_timeout=5) as connection:
                declare_consumer_topology(connection, service)
            self.queue: Queue = Queue(
                f"diversion.{service}.rpc",
                exchange=get_rpc_exchange(self.container.config),
                routing_key=f"{service}.*",
                durable=True,
                queue_arguments=quorum_arguments(service, delivery_limit_of(self.container)),
            )
            self.queue_consumer.register_provider(self)
            self._registered = True
        self.signing_key = signing.key_of(self.container)

    def handle_message(self, body: Any, message: Any) -> None:
        """A call whose identity headers are unsigned, forged or stale is answered `IdentityRefused`, not run."""
        try:
            signing.verify(message.headers, message_id=message.properties.get("correlation_id"),
                           digest=signing.payload_digest(body), key=self.signing_key,
                           max_age=signing.RPC_MAX_AGE_SECONDS)
        except signing.IdentityRefused as exc:
            log.error("refusing an RPC call to %s: %s", message.delivery_info.get("routing_key"), exc)
            try:
                self.handle_result(message, None, (type(exc), exc, exc.__traceback__))
            except Exception:  # noqa: BLE001 - no usable reply_to: the call is dropped all the same
                self.queue_consumer.ack_message(message)
            return
        super().handle_message(body, message)


class QuorumRpc(Rpc):  # type: ignore[misc]  # nameko's Rpc is untyped
    rpc_consumer = QuorumRpcConsumer()


rpc = QuorumRpc.decorator
