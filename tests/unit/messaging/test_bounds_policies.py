"""The queue bounds (ADR 0085): the checked-in definitions file's policies are bounds.py's, with the documented
default figures; the queue arguments of a new queue carry the same figures; each bounded queue matches exactly
one policy; the drain reads the source queue and reason from the dead-letter headers."""

from __future__ import annotations

import json
import re
from pathlib import Path

from services.notifications.channels.amqp_feed import partner_feed
from shared.config import SERVICES, CommonSettings
from shared.messaging.bounds import Bounds, dropped_name, origin, policies, queue_arguments
from shared.messaging.topology import dlq_name, handler_queue_name, unrouted_name

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = Bounds.from_settings(CommonSettings.model_construct())
DAY_MS = 86_400_000


def test_the_definitions_file_holds_the_policies_of_bounds_py() -> None:
    checked_in = json.loads((ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
    assert checked_in["policies"] == policies("/", DEFAULTS), "stale: run make broker-definitions"


def test_the_default_figures_are_the_documented_ones() -> None:
    figures = {(b.max_length, b.ttl_ms) for b in (DEFAULTS.unrouted, DEFAULTS.partner_feed)}
    assert figures == {(10_000, 7 * DAY_MS)}
    assert (DEFAULTS.dlq.max_length, DEFAULTS.dlq.ttl_ms) == (100_000, 30 * DAY_MS)
    assert (DEFAULTS.dropped.max_length, DEFAULTS.dropped.ttl_ms) == (100_000, DAY_MS)


def _policy_of(queue: str) -> list[dict[str, object]]:
    return [p for p in policies("/", DEFAULTS) if re.match(str(p["pattern"]), queue)]


def test_each_bounded_queue_has_one_policy_with_the_figures_of_its_arguments() -> None:
    queues = [(unrouted_name(s), "unrouted", s) for s in SERVICES] + [(dlq_name(s), "dlq", s) for s in SERVICES]
    queues += [(dropped_name(s), "dropped", s) for s in SERVICES]
    feed = partner_feed("org-1", "stl-cao", DEFAULTS).queue
    queues.append((feed.name, "partner_feed", "notifications"))
    for name, queue_class, owner in queues:
        matched = _policy_of(name)
        assert len(matched) == 1, name
        definition = matched[0]["definition"]
        args = queue_arguments(queue_class, owner, DEFAULTS)
        assert isinstance(definition, dict)
        assert definition["max-length"] == args["x-max-length"]
        assert definition["message-ttl"] == args["x-message-ttl"]
        assert definition["overflow"] == args["x-overflow"] == "drop-head"
        assert definition.get("dead-letter-exchange") == args.get("x-dead-letter-exchange")
        assert matched[0]["apply-to"] == "queues"
    assert feed.queue_arguments == queue_arguments("partner_feed", "notifications", DEFAULTS)
    assert queue_arguments("dropped", "intake", DEFAULTS).get("x-dead-letter-exchange") is None  # no loop
    assert queue_arguments("dlq", "intake", DEFAULTS)["x-dead-letter-exchange"] == "diversion.intake.dropped"


def test_a_handler_queue_is_not_bounded() -> None:
    from shared.messaging.catalog import CATALOG

    spec = next(iter(CATALOG.values()))
    assert all(_policy_of(handler_queue_name(s, "intake", spec, "on_event")) == [] for s in SERVICES)


def test_the_drain_reads_the_most_recent_death() -> None:
    headers = {"x-death": [{"queue": "diversion.intake.dlq", "reason": "maxlen", "exchange": "diversion.intake.dlx"},
                           {"queue": "diversion.intake.unrouted", "reason": "expired", "exchange": "x"}],
               "x-first-death-queue": "diversion.intake.unrouted", "x-first-death-reason": "expired"}
    assert origin(headers) == ("diversion.intake.dlq", "maxlen", "diversion.intake.dlx")
    assert origin({"x-first-death-queue": "partner.o.feed", "x-first-death-reason": "expired",
                   "x-first-death-exchange": b"agency.a.partner_feed"}) == ("partner.o.feed", "expired",
                                                                            "agency.a.partner_feed")
    assert origin(None) == ("?", "?", None)
