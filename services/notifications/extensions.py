"""notifications' own dependency provider: the delivery engine (`NotificationRuntime`).

The delivery engine inside a notifications container: channels, clock, policies, the send pool.
One `NotificationRuntime` per container. A dispatch pass queues due reminders, claims due deliveries
and hands each to its own green thread, so a slow or dead endpoint holds one slot of the pool and
never the others. Results go to one recorder thread that logs attempts in batches (one transaction
per batch). Passes run on the `@timer` tick and right after an event handler commits new deliveries.
A heartbeat thread keeps this instance's row in `instance_heartbeat` and takes over the claims of peers
that stopped beating (see `instances`).

Over 400 lines on purpose: the engine's four threads (send pool, recorder, waker, heartbeat) share its state
and start and stop together; the steps they run are in `usecases.dispatch` and `instances`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import eventlet
from eventlet.greenpool import GreenPool
from eventlet.queue import Empty, Full, LightQueue
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from services.notifications.channels.base import AttemptResult, AttemptStatus, Channel
from services.notifications.channels.loader import channel_factories
from services.notifications.domain.clock import Clock, SystemClock
from services.notifications.domain.delivery import RetryPolicy
from services.notifications.instances import Beat, beat, join, leave, new_instance_id
from services.notifications.metrics import DeliveryMetrics
from services.notifications.models import TemplateOverride
from services.notifications.settings import NotificationSettings, notification_settings_of
from services.notifications.templates import TemplateRenderer
from services.notifications.usecases.dispatch import Job, Outcome, cancelled, claim_deliveries, record_outcomes
from services.notifications.usecases.due_reminders import queue_due_reminders
from services.notifications.usecases.fanout import FanoutContext
from shared import tracing
from shared.config import SETTINGS_KEY
from shared.messaging.service import find_database
from shared.metrics import metrics_for

log = logging.getLogger(__name__)

_STOP = object()
RECORD_BATCH = 500
PASS_SECONDS = 20.0
WAKE_COALESCE_SECONDS = 0.05  # one pass yields after this long, so shutdown and the timer stay responsive
# While sends are in flight, a claim waits (at most this long) for a quarter of the pool to be free: a claim
# is five statements and a commit whatever it takes, and claiming each slot as it frees made them ~5 rows.
CLAIM_GATHER_SECONDS = 0.02
# Likewise the recorder, while more outcomes are on their way, lets them gather this long into one transaction.
RECORD_GATHER_SECONDS = 0.01


_WAKE_KEY = "notifications_wake_after_commit"


class NotificationRuntime(DependencyProvider):
    """Injects itself (`wake`, `dispatch_pass`, `fanout_context`, `send_now`, `renderer_for`)."""

    def setup(self) -> None:
        self.delivery_metrics = DeliveryMetrics(metrics_for(self.container))
        settings = self.container.config[SETTINGS_KEY]
        self.own: NotificationSettings = notification_settings_of(settings)
        self.clock: Clock = SystemClock()  # tests swap in a ManualClock
        self.retry_policy = RetryPolicy(jitter=self.own.retry_jitter)
        if self.own.bench_without_consent_check:  # a benchmark's baseline only (ADR 0070)
            log.warning("partner deliveries go out WITHOUT the send-time consent check (bench_without_consent_check)")
        self.reminder_policy = self.own.reminder_policy()
        self.channels: dict[str, Channel] = {}
        self.unavailable: dict[str, str] = {}
        for name, factory in channel_factories().items():
            try:
                self.channels[name] = factory.from_settings(settings)
            except Exception as exc:  # noqa: BLE001 - one unconfigured channel must not stop the others
                self.unavailable[name] = f"{type(exc).__name__}: {exc}"
                log.warning("notification channel %s is not available: %s", name, exc)
        keep_connections = getattr(self.channels.get("webhook"), "keep_connections", None)
        if callable(keep_connections):
            # One kept-alive connection per concurrent send; fewer would churn connections.
            keep_connections(self.own.dispatch_concurrency)
        self.pool = GreenPool(self.own.dispatch_concurrency)
        self.outcomes: LightQueue = LightQueue()
        self.wakeups: LightQueue = LightQueue(maxsize=1)
        self._pass_lock = Semaphore(1)
        self._again = False
        self._renderers: dict[Any, TemplateRenderer] = {}
        self._default_renderer = TemplateRenderer()
        self.running = False
        self.instance_id = new_instance_id()
        self.joined = False  # claims wait until our heartbeat row exists, so a peer never takes them for orphans
        self.resent = metrics_for(self.container).counter(
            "deliveries_resent_total",
            "Deliveries sent again because the instance that claimed them stopped, or their lease ran out "
            "(the earlier try may have reached the receiver: it deduplicates by webhook-id)",
            ("reason",),
        )
        for reason in ("instance_stopped", "lease_expired"):
            self.resent.labels(reason)

    def start(self) -> None:
        database = find_database(self.container)
        assert database is not None, "the notifications service declares a Database"
        self.engine: Engine = database.engine
        self.running = True
        self._join()
        self._recorder = self.container.spawn_managed_thread(self._record_loop, identifier="delivery_recorder")
        self._waker = self.container.spawn_managed_thread(self._wake_loop, identifier="delivery_waker")
        self._heart = self.container.spawn_managed_thread(self._heartbeat_loop, identifier="delivery_heartbeat")

    def stop(self) -> None:
        self.running = False
        with eventlet.Timeout(self.own.webhook_timeout_seconds + 5, exception=False):
            self.pool.waitall()  # in-flight sends finish and are recorded; the rest keep their lease
        self.outcomes.put(_STOP)
        with eventlet.Timeout(10, exception=False):
            self._recorder.wait()
        self._waker.kill()
        self._heart.kill()
        self._leave()
        self._close_channels()

    def kill(self) -> None:
        self.running = False
        for thread in list(self.pool.coroutines_running):
            thread.kill()
        self._close_channels()

    def _close_channels(self) -> None:
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.debug("closing channel %s failed", channel.name, exc_info=True)

    def get_dependency(self, worker_ctx: Any) -> NotificationRuntime:
        return self

    # -- what the service uses -------------------------------------------------------------------

    def now(self) -> Any:
        return self.clock.now()

    def fanout_context(self) -> FanoutContext:
        return FanoutContext(
            now=self.clock.now(), zone_name=self.own.timezone, staff_app_url=self.own.staff_app_url,
            renderer_for=self.renderer_for, default_country_code=self.own.sms_default_country_code,
            staff_app_urls=dict(self.own.staff_app_urls), pending_days=self.own.pending_staff_notice_days,
        )

    def renderer_for(self, session: Session, agency: str) -> TemplateRenderer:
        rows = session.execute(
            select(TemplateOverride.key, TemplateOverride.source, TemplateOverride.version)
            .where(TemplateOverride.agency_id == agency)
        ).all()
        if not rows:
            return self._default_renderer
        key = (agency, tuple(sorted((row.key, row.version) for row in rows)))
        renderer = self._renderers.get(key)
        if renderer is None:
            if len(self._renderers) > 256:
                self._renderers.clear()
            renderer = TemplateRenderer({agency: {row.key: row.source for row in rows}})
            self._renderers[key] = renderer
        return renderer

    def wake_after_commit(self, session: Session) -> None:
        """A dispatch pass right after `session` commits (its new deliveries are then visible to the claim)."""
        # Once per transaction: the handlers of a batch share one session (shared.messaging.consumer).
        if session.info.get(_WAKE_KEY):
            return
        session.info[_WAKE_KEY] = True

        def wake(committed: Any) -> None:
            committed.info.pop(_WAKE_KEY, None)
            self.wake()

        sa_event.listen(session, "after_commit", wake, once=True)

    def wake(self) -> None:
        """Ask for a dispatch pass soon (new deliveries were committed)."""
        try:
            self.wakeups.put_nowait(True)
        except Full:
            pass

    def send_now(self, job: Job) -> AttemptResult:
        """Send one claimed job in the caller's green thread and record it without retries (pings)."""
        result = self._execute(job)
        with Session(self.engine, expire_on_commit=False) as session:
            self.delivery_metrics.count(
                record_outcomes(session, [Outcome(job, result, self.clock.now())], self.retry_policy, final=True)
            )
        return result

    # -- the engine ----------------------------------------------------------------------------

    def dispatch_pass(self, reminders: bool = True) -> int:
        """Queue due reminders, then claim and start sending due deliveries; returns how many started."""
        if not self._pass_lock.acquire(blocking=False):
            self._again = True  # the running pass goes round once more
            return 0
        started = 0
        try:
            while self.running:
                self._again = False
                started += self._one_pass(reminders)
                if not self._again:
                    break
        finally:
            self._pass_lock.release()
        return started

    def _one_pass(self, reminders: bool = True) -> int:
        if reminders:
            self._queue_reminders()
        return self._start_sends()

    def _queue_reminders(self) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                while self.running and queue_due_reminders(
                    session, self.clock.now(), self.reminder_policy, self.renderer_for, self.own.dispatch_batch,
                    sender_name=self.own.sender_name, default_country_code=self.own.sms_default_country_code,
                    withheld=self.delivery_metrics.count_withheld,
                ) >= self.own.dispatch_batch:
                    pass
        except Exception:
            log.exception("queueing due reminders failed")

    def _start_sends(self) -> int:
        started = 0
        deadline = time.monotonic() + PASS_SECONDS
        lease = timedelta(seconds=self.own.lease_seconds)
        gather = max(1, min(self.own.dispatch_batch, self.own.dispatch_concurrency // 4))
        waiting_since: float | None = None
        while self.running and time.monotonic() < deadline:
            free = self.pool.free()
            if free < gather and self.pool.running():
                now = time.monotonic()
                waiting_since = waiting_since or now
                if free <= 0 or now - waiting_since < CLAIM_GATHER_SECONDS:
                    eventlet.sleep(0.005)
                    continue
            waiting_since = None
            if not self.joined:
                break  # the heartbeat thread joins (the database was unreachable at start)
            with Session(self.engine, expire_on_commit=False) as session:
                jobs = claim_deliveries(session, self.clock.now(), lease, min(free, self.own.dispatch_batch),
                                        instance=self.instance_id,
                                        consent_check=not self.own.bench_without_consent_check)
            if not jobs:
                break
            retaken = sum(1 for job in jobs if job.retaken)
            if retaken:
                self.resent.labels("lease_expired").inc(retaken)
            for job in jobs:
                self.pool.spawn_n(self._send, job)
            started += len(jobs)
        return started

    def _execute(self, job: Job) -> AttemptResult:
        if job.message is None:
            return cancelled(job)
        channel = self.channels.get(job.channel)
        if channel is None:
            reason = self.unavailable.get(job.channel, "no such channel is installed")
            return AttemptResult(AttemptStatus.FAILED, error=f"channel {job.channel} is not available: {reason}")
        message = job.message
        span = _send_span(job) if tracing.enabled() else None
        if span is not None and job.channel == "webhook":
            # W3C Trace Context on the request itself, so the partner's own tracing joins the trace.
            message = replace(message, headers={**message.headers, "traceparent": tracing.traceparent_of(span)})
        started = time.perf_counter()
        result: AttemptResult | None = None
        try:
            result = channel.send(message)
            return result
        except Exception as exc:
            log.exception("channel %s raised while sending delivery %s", job.channel, job.delivery_id)
            return AttemptResult(AttemptStatus.RETRY, error=f"channel error: {type(exc).__name__}")
        finally:
            self.delivery_metrics.observe_latency(job.channel, time.perf_counter() - started)
            if span is not None:
                _end_send_span(span, result)

    def _send(self, job: Job) -> None:
        result = self._execute(job)
        self.outcomes.put(Outcome(job, result, self.clock.now()))

    def _record_loop(self) -> None:
        stopping = False
        while not stopping:
            first = self.outcomes.get()
            batch: list[Outcome] = []
            if first is _STOP:
                stopping = True
            else:
                batch.append(first)
                if self.pool.running() and self.outcomes.qsize() < RECORD_BATCH // 10:
                    eventlet.sleep(RECORD_GATHER_SECONDS)
            while len(batch) < RECORD_BATCH:
                try:
                    item = self.outcomes.get_nowait()
                except Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._record(batch)

    def _record(self, batch: list[Outcome], tries: int = 3) -> None:
        for attempt in range(1, tries + 1):
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    tally = record_outcomes(session, batch, self.retry_policy)
                self.delivery_metrics.count(tally)
                return
            except Exception:
                log.exception("recording %d delivery attempts failed (try %d of %d)", len(batch), attempt, tries)
                eventlet.sleep(0.5 * attempt)

    # -- heartbeat and takeover ----------------------------------------------------------------

    def _join(self) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                join(session, self.instance_id)
            self.joined = True
            log.info("notifications instance %s joined", self.instance_id)
        except Exception:
            log.exception("notifications instance %s could not register its heartbeat yet", self.instance_id)

    def _leave(self) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                leave(session, self.instance_id)
        except Exception:
            log.warning("notifications instance %s could not remove its heartbeat", self.instance_id, exc_info=True)

    def heartbeat(self) -> Beat:
        """One beat: stamp our row, remove silent peers, put back the deliveries they held."""
        with Session(self.engine, expire_on_commit=False) as session:
            result = beat(session, self.instance_id, timedelta(seconds=self.own.instance_timeout_seconds),
                          self.clock.now())
        if result.rejoined and self.joined:
            log.warning("notifications instance %s was taken for dead by a peer (no heartbeat for %g s); "
                        "joined again", self.instance_id, self.own.instance_timeout_seconds)
        self.joined = True
        if result.dead:
            log.warning("notifications instance(s) %s stopped beating; taking over their deliveries",
                        ", ".join(result.dead))
        if result.taken_over:
            log.warning("%d delivery(ies) of stopped instances will be sent again (same webhook-id)",
                        len(result.taken_over))
            self.resent.labels("instance_stopped").inc(len(result.taken_over))
            self.wake()
        return result

    def _heartbeat_loop(self) -> None:
        interval = self.own.heartbeat_interval_seconds
        while self.running:
            started = time.monotonic()
            try:
                self.heartbeat()
            except Exception:
                log.exception("heartbeat of notifications instance %s failed", self.instance_id)
            eventlet.sleep(max(0.0, interval - (time.monotonic() - started)))

    def _wake_loop(self) -> None:
        while True:
            self.wakeups.get()
            # Commits arrive in bursts: a short pause lets one claim pick up many rows instead of one.
            eventlet.sleep(WAKE_COALESCE_SECONDS)
            try:
                self.dispatch_pass(reminders=False)  # reminders are due by the clock: the timer queues them
            except Exception:
                log.exception("dispatch pass failed")


def _send_span(job: Job) -> Any:
    """One attempt's span; a CloudEvent body (webhook, AMQP feed) names its parent, the event's traceparent."""
    assert job.message is not None
    return tracing.start_span(
        "notifications", f"{job.channel} send", parent=tracing.traceparent_in(job.message.body),
        kind=tracing.SpanKind.CLIENT,
        attributes={"diversion.delivery.id": job.delivery_id, "diversion.delivery.channel": job.channel,
                    "diversion.delivery.attempt": job.attempt, "cloudevents.event_type": job.trigger_event_type,
                    "cloudevents.event_id": job.trigger_event_id},
    )


def _end_send_span(span: Any, result: AttemptResult | None) -> None:
    attributes: dict[str, Any] = {"diversion.delivery.outcome": result.status.value if result else "error"}
    if result is not None and result.status_code:
        attributes["http.response.status_code"] = result.status_code
    error = None if result is not None and result.ok else (result.error if result else None) or "not delivered"
    tracing.end_span(span, error, attributes)


RuntimeCallable = Callable[[], NotificationRuntime]
