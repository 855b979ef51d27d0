"""A three-node RabbitMQ cluster loses the node that leads the busiest quorum queue mid-run, and gets it back:
no referral is lost or done twice, and every service reconnects to the nodes that are left.

The cluster is the test's own (three `rabbitmq-server` nodes on free ports, names unique to the run, joined
with `join_cluster`); intake, casework and notifications run as processes with `DIVERSION_AMQP_URI` naming
all three nodes. They all connect to the first node listed (kombu's round-robin failover starts there), so
their queues are declared there and led from there (quorum queues' default `client-local` leader locator):
the node leading the busiest queue is the node every service is connected to. It is stopped while referrals
are still being accepted, and started again once the flow has caught up on the two nodes left.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from outage_support import (
    FLOW_SERVICES,
    Clock,
    Flow,
    MailSink,
    OwnCluster,
    Suite,
    mail_fixture,  # noqa: F401 - a fixture
    shared_databases,
)

from tests.support.waiting import wait_for

SMALL = int(os.environ.get("DIVERSION_OUTAGE_REFERRALS", "200"))  # make test
SOAK = int(os.environ.get("DIVERSION_SOAK_REFERRALS", "2000"))  # make soak
SIZES = [pytest.param(SMALL, id="small"), pytest.param(SOAK, id="soak", marks=pytest.mark.soak)]


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnCluster]:
    own = OwnCluster(tmp_path_factory.mktemp("cluster"))
    try:
        own.start()
        yield own
    finally:
        own.stop()


def quorum_queues(cluster: OwnCluster) -> list[dict[str, Any]]:
    return [q for q in cluster.queues() if q.get("type") == "quorum"]


@pytest.mark.parametrize("total", SIZES)
def test_cluster_loses_the_busiest_queues_leader_mid_run_and_nothing_is_lost_or_doubled(
    total: int, tmp_path: Path, mail: MailSink, cluster: OwnCluster, capsys: pytest.CaptureFixture[str],
) -> None:
    node_ports = {node.port: node.node for node in cluster.nodes}
    with shared_databases("rmq", FLOW_SERVICES) as databases:
        suite = Suite(tmp_path, cluster.uri, mail, databases)
        clock = Clock()
        try:
            suite.start()
            clock.mark("services ready")
            flow = Flow(suite.urls, databases, mail)
            flow.set_up(total)
            ids = flow.submit(total)
            clock.mark(f"{total} referrals submitted (batch API)")
            first, rest = ids[: total * 7 // 10], ids[total * 7 // 10:]
            # Leaders and consumers before the run (the CLI is slow on a busy machine; the leaders do not move
            # until a node goes): only queues some service consumes count as busy.
            leaders = {q["name"]: q["leader"] for q in quorum_queues(cluster)}
            served = [name for name, (_, consumers) in cluster.queue_counts(leaders).items() if consumers]

            held = total * 3 // 10
            with flow.accepting(first, hold_after=held) as go_on:
                # Mid-run by construction: acceptance pauses after the first 30 % until the stop begins, and
                # goes on while the node goes away and after.
                wait_for(lambda: len(flow.accepted) >= held, 300, "the first 30 % of the referrals accepted")
                clock.mark(f"{len(flow.accepted)} referrals accepted; which queue is busiest?")
                # Messages ready plus unacknowledged (consumers hold up to their prefetch) of each consumed queue.
                messages = {q["name"]: int(q.get("messages") or 0) for q in quorum_queues(cluster)}
                # Ties (a drained moment): casework's referral.accepted queue, which every referral passes first.
                busiest = max(served, key=lambda name: (messages[name], name.endswith("intake.referral.accepted")))
                victim = cluster.node_named(leaders[busiest])
                before = suite.broker_links(node_ports)
                at_stop = len(flow.accepted), mail.count()
                stopping = clock.mark(f"stop {victim.node}: leader of {busiest} ({messages[busiest]} messages)")
                go_on.set()
                victim.stop()
                down = clock.mark(f"{victim.node} down")

                def reconnected() -> bool:
                    links = suite.broker_links(node_ports)
                    if any(not links[s] or links[s][victim.node] for s in FLOW_SERVICES):
                        return False
                    try:
                        counts = cluster.queue_counts(served)
                    except Exception:  # noqa: BLE001 - a queue still electing its new leader
                        return False
                    return all(consumers >= 1 for _, consumers in counts.values())

                wait_for(reconnected, 180, "every service connected to the nodes left, every queue consumed",
                         every=0.2)
                recovered = clock.mark("every service reconnected, every queue consumed again")
                after = suite.broker_links(node_ports)
            new_leader = next(q["leader"] for q in quorum_queues(cluster) if q["name"] == busiest)
            wait_for(lambda: flow.done(len(first)), 600, "the first part through to the staff emails", every=0.5)
            caught_up = clock.mark("caught up on two nodes")

            victim.start()
            victim.wait_started()
            wait_for(lambda: len(cluster.running_nodes()) == len(cluster.nodes)
                     and all(len(q.get("online") or []) == len(cluster.nodes) for q in quorum_queues(cluster)),
                     180, "the node back in the cluster with every quorum queue's member online", every=1)
            clock.mark(f"{victim.node} back, every quorum queue with {len(cluster.nodes)} members online")

            flow.accept_all(rest)
            clock.mark("the rest accepted")
            wait_for(lambda: flow.done(total), 600, "every referral through to the staff email", every=0.5)
            wait_for(flow.quiet, 120, "nothing left in flight", every=0.5)
            clock.mark("all through, nothing in flight")
            counts = flow.counts(cluster.any_running().uri)
            absorbed = flow.absorbed_duplicates(suite.urls)
            final = suite.broker_links(node_ports)
            suite.alive()
        finally:
            suite.stop()

    with capsys.disabled():
        print(f"\n[broker node outage, {total} referrals, 3-node cluster] {victim.node} stopped after {at_stop[0]} "
              f"acceptances ({at_stop[1]} emails out); {busiest} led by {new_leader} afterwards")
        for what, at in clock.marks.items():
            print(f"  t+{at:6.2f}s  {what}")
        print(f"  recovery: services reconnected {recovered - stopping:.2f}s after the stop began "
              f"({recovered - down:.2f}s after the node was down); "
              f"backlog caught up {caught_up - stopping:.2f}s after; {len(first) - at_stop[0]} referrals accepted "
              f"after the stop began")
        print("  broker connections per service, before the stop -> once reconnected -> at the end: " + "; ".join(
            f"{s} {dict(before[s])} -> {dict(after[s])} -> {dict(final[s])}" for s in FLOW_SERVICES))
        print(f"  counts: {counts.line()}; redeliveries absorbed by inboxes {absorbed}")

    # The outage hit every service: each was connected to the stopped node, and each reconnected elsewhere.
    assert all(before[s][victim.node] >= 1 for s in FLOW_SERVICES), before
    assert all(after[s] and not after[s][victim.node] for s in FLOW_SERVICES), after
    assert new_leader != victim.node
    assert counts.sent == total
    assert counts.lost == 0, counts.line()
    assert counts.case_duplicates == counts.delivery_duplicates == counts.email_duplicates == 0, counts.line()
    assert counts.assigned_events == total, counts.line()
    assert counts.dead_letters == 0, counts.line()
