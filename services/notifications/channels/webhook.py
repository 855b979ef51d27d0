"""Webhook channel: a signed POST (Standard Webhooks) to a partner's URL, redirects never followed.

Every webhook body is a CloudEvent in structured content mode, so it goes out as
`application/cloudevents+json` (CloudEvents HTTP protocol binding, section 3.2).

Sends go through urllib3 directly (requests added cookie jars, hooks and request preparation to every
delivery for nothing we use; a cookie set by one receiver would even travel to the next on that host).
Connections are kept alive per receiver: the answer is read (up to a bound) so the connection goes back
to its pool, and a pooled connection is checked with a zero-timeout `poll()` on the real `select`
module, because urllib3's check goes through eventlet's green `select`, which parks the green thread
on the hub for every reuse.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import urllib3
from eventlet.patcher import original
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as HTTPTimeout

from services.notifications.channels.base import AttemptResult, AttemptStatus, Message, parse_retry_after
from services.notifications.channels.settings import channel_settings_of
from services.notifications.channels.signing import InvalidSecret, webhook_headers
from services.notifications.channels.ssrf import (
    AllowList,
    Resolver,
    TargetRefused,
    check_target,
    system_resolver,
)
from services.notifications.domain.clock import Clock, SystemClock

if TYPE_CHECKING:
    from shared.config import Settings

RETRYABLE_4XX = frozenset({408, 425, 429})
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
# A receiver's answer is read up to this size so its connection can carry the next delivery
# (keep-alive); a longer answer is cut off together with its connection.
MAX_ANSWER_BYTES = 64 * 1024
# Receivers (scheme, host, port) whose idle connections are kept; the least recently used go first.
KEPT_RECEIVERS = 256

_real_select: Any = original("select")  # not eventlet's green module, even after monkey patching


def _readable_now(sock: Any) -> bool:
    """Whether an idle pooled socket has something to read: the receiver closed it (or sent junk)."""
    poller = _real_select.poll()
    poller.register(sock.fileno(), _real_select.POLLIN | _real_select.POLLERR | _real_select.POLLHUP)
    return bool(poller.poll(0))


class _KeptHTTPConnection(HTTPConnection):
    @property
    def is_connected(self) -> bool:
        return self.sock is not None and not _readable_now(self.sock)


class _KeptHTTPSConnection(HTTPSConnection):
    @property
    def is_connected(self) -> bool:
        return self.sock is not None and not _readable_now(self.sock)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _KeptHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _KeptHTTPSConnection


def connection_pools(per_receiver: int) -> urllib3.PoolManager:
    """Pools of keep-alive connections, `per_receiver` idle ones kept per receiver, TLS verified."""
    try:
        import certifi

        ca_certs: str | None = certifi.where()  # the same CA bundle requests used
    except ImportError:  # pragma: no cover - certifi comes with the HTTP stack
        ca_certs = None
    pools = urllib3.PoolManager(num_pools=KEPT_RECEIVERS, maxsize=per_receiver, block=False,
                                cert_reqs="CERT_REQUIRED", ca_certs=ca_certs)
    pools.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return pools


def classify_response(status_code: int, retry_after: float | None) -> tuple[AttemptStatus, str | None]:
    """Map an HTTP status to an attempt status (and an error text for non-2xx)."""
    if 200 <= status_code < 300:
        return AttemptStatus.DELIVERED, None
    if status_code == 410:
        return AttemptStatus.GONE, "receiver answered 410 Gone"
    if 300 <= status_code < 400:
        return (
            AttemptStatus.FAILED,
            f"receiver answered a redirect ({status_code}); redirects are not followed",
        )
    if status_code in RETRYABLE_4XX or status_code >= 500:
        return AttemptStatus.RETRY, f"receiver answered {status_code}"
    return AttemptStatus.FAILED, f"receiver answered {status_code}"


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        allow_list: Iterable[str] = (),
        timeout_seconds: float = 10.0,
        clock: Clock | None = None,
        resolver: Resolver = system_resolver,
        user_agent: str = "diversion-notifications/0.1 (Standard Webhooks)",
        connections_per_receiver: int = 10,
    ) -> None:
        self.allow_list = AllowList(allow_list)
        self.timeout_seconds = timeout_seconds
        self.clock: Clock = clock or SystemClock()
        # No proxies from the environment: they would bypass the SSRF check's view of where we connect.
        self.pools = connection_pools(connections_per_receiver)
        self.resolver = resolver
        self.user_agent = user_agent

    def keep_connections(self, per_receiver: int) -> None:
        """Keep up to `per_receiver` idle connections per receiver (one per concurrent send)."""
        self.pools.clear()
        self.pools = connection_pools(per_receiver)

    def close(self) -> None:
        self.pools.clear()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookChannel:
        own = channel_settings_of(settings)
        return cls(
            allow_list=own.webhook_allow_list,
            timeout_seconds=own.webhook_timeout_seconds,
            user_agent=own.webhook_user_agent,
        )

    def check_target(self, url: str) -> None:
        """Registration-time check; raises TargetRefused."""
        check_target(url, self.allow_list, self.resolver)

    def send(self, message: Message) -> AttemptResult:
        try:
            check_target(message.recipient, self.allow_list, self.resolver)
        except TargetRefused as exc:
            return AttemptResult(AttemptStatus.FAILED, error=str(exc))
        timestamp = int(self.clock.now().timestamp())
        body = message.body.encode("utf-8")
        try:
            headers = webhook_headers(message.secrets, message.id, timestamp, message.body)
        except InvalidSecret as exc:
            return AttemptResult(AttemptStatus.FAILED, error=str(exc))
        headers.update(
            {"content-type": CLOUDEVENTS_JSON, "user-agent": self.user_agent, **dict(message.headers)}
        )
        started = time.monotonic()
        try:
            response = self.pools.urlopen(
                "POST",
                message.recipient,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=self.timeout_seconds, read=self.timeout_seconds),
                preload_content=False,  # the receiver's body is not needed: read at most MAX_ANSWER_BYTES of it
            )
        except NewConnectionError as exc:  # before HTTPTimeout: it subclasses the connect timeout
            return AttemptResult(
                AttemptStatus.RETRY, latency_ms=_since(started), error=f"connection failed: {type(exc).__name__}"
            )
        except HTTPTimeout:
            return AttemptResult(
                AttemptStatus.RETRY,
                latency_ms=_since(started),
                error=f"timed out after {self.timeout_seconds}s",
            )
        except (ProtocolError, SSLError, OSError) as exc:
            return AttemptResult(
                AttemptStatus.RETRY,
                latency_ms=_since(started),
                error=f"connection failed: {type(exc).__name__}",
            )
        except (HTTPError, ValueError) as exc:
            return AttemptResult(AttemptStatus.FAILED, latency_ms=_since(started), error=type(exc).__name__)
        latency = _since(started)
        _finish(response)
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
        status, error = classify_response(response.status, retry_after)
        return AttemptResult(
            status,
            status_code=response.status,
            latency_ms=latency,
            error=error,
            retry_after_seconds=retry_after if status is AttemptStatus.RETRY else None,
        )


def _finish(response: urllib3.BaseHTTPResponse) -> None:
    """Read the (short) answer so the connection goes back to the pool, then let go of the response.

    Closing a response whose body was not read closes its socket: every delivery to the same
    receiver would then pay for a new TCP (and TLS) connection. Once the whole answer is read,
    urllib3 returns the connection to the pool, and `close()` leaves it open there.
    """
    try:
        response.read(MAX_ANSWER_BYTES, decode_content=False)
    except Exception:  # noqa: BLE001 - the status is what counts; a broken answer just loses its connection
        pass
    response.close()


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
