"""casework's PostgreSQL goes away under load and comes back: nothing is lost, nothing is done twice, and
casework's /readyz says not ready (503) while its database is away and ready afterwards.

intake, casework and notifications run as processes (as `make run` runs them) on a vhost of their own on the
machine's broker; casework's database lives on a PostgreSQL instance of the test's own (initdb, free port),
which is stopped mid-run while referrals keep being accepted, then started again. The other two services keep
their databases on the machine's PostgreSQL and stay ready throughout.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from outage_support import (  # noqa: F401 - fixtures
    FLOW_SERVICES,
    Clock,
    Flow,
    MailSink,
    OwnPostgres,
    Suite,
    mail_fixture,
    own_vhost_fixture,
    shared_databases,
)

from tests.support.waiting import wait_for

SMALL = int(os.environ.get("DIVERSION_OUTAGE_REFERRALS", "200"))  # make test
SOAK = int(os.environ.get("DIVERSION_SOAK_REFERRALS", "2000"))  # make soak
SIZES = [pytest.param(SMALL, id="small"), pytest.param(SOAK, id="soak", marks=pytest.mark.soak)]


@pytest.fixture
def casework_postgres() -> Iterator[OwnPostgres]:
    pg = OwnPostgres()
    pg.init()
    pg.start()
    yield pg
    pg.remove()


@pytest.mark.parametrize("total", SIZES)
def test_casework_database_restarted_mid_run_loses_and_duplicates_nothing(
    total: int, tmp_path: Path, mail: MailSink, own_vhost: str, casework_postgres: OwnPostgres,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with shared_databases("pgout", ("intake", "notifications")) as databases:
        databases["casework"] = casework_postgres.create_database("diversion_casework")
        suite = Suite(tmp_path, own_vhost, mail, databases)
        clock = Clock()
        try:
            suite.start()
            clock.mark("services ready")
            flow = Flow(suite.urls, databases, mail)
            flow.set_up(total)
            ids = flow.submit(total)
            clock.mark(f"{total} referrals submitted (batch API)")
            first, rest = ids[: total * 7 // 10], ids[total * 7 // 10:]

            held = total * 3 // 10
            with flow.accepting(first, hold_after=held) as go_on:
                # Mid-run by construction: acceptance pauses after the first 30 % until the database is going
                # away, and goes on while it is away.
                wait_for(lambda: len(flow.accepted) >= held, 300, "the first 30 % of the referrals accepted")
                clock.mark("database stopping")
                go_on.set()
                casework_postgres.stop("fast")
                at_stop = len(flow.accepted), flow.mail.count()
                clock.mark("database stopped")
                wait_for(lambda: suite.readiness("casework") == 503, 30, "casework /readyz to answer 503")
                clock.mark("casework not ready (503)")
            # The outage lasts until every referral of the first part has been accepted by intake and
            # published (intake does not need casework's database), so events pile up for casework.
            wait_for(lambda: flow.outbox_backlog("intake") == 0, 120, "intake's outbox published")
            assert suite.readiness("casework") == 503, "casework says ready while its database is down"
            others = {s: suite.readiness(s) for s in FLOW_SERVICES if s != "casework"}
            assert set(others.values()) == {200}, f"other services not ready during casework's outage: {others}"
            during = flow.mail.count()
            casework_postgres.start()
            clock.mark("database started")
            wait_for(lambda: suite.ready("casework"), 60, "casework ready again", every=0.1)
            recovered = clock.mark("casework ready again (200)")
            wait_for(lambda: flow.done(len(first)), 300, "the first part through to the staff emails", every=0.5)
            caught_up = clock.mark("caught up with the backlog")

            flow.accept_all(rest)
            clock.mark("the rest accepted")
            wait_for(lambda: flow.done(total), 300, "every referral through to the staff email", every=0.5)
            wait_for(flow.quiet, 120, "nothing left in flight", every=0.5)
            clock.mark("all through, nothing in flight")
            counts = flow.counts(own_vhost)
            absorbed = flow.absorbed_duplicates(suite.urls)
            suite.alive()
        finally:
            suite.stop()

    with capsys.disabled():
        print(f"\n[database outage, {total} referrals] casework's PostgreSQL stopped after {at_stop[0]} acceptances "
              f"({at_stop[1]} emails out); {during - at_stop[1]} emails went out while it was down "
              "(referrals already past casework)")
        for what, at in clock.marks.items():
            print(f"  t+{at:6.2f}s  {what}")
        back = clock.marks["database started"]
        print(f"  outage {back - clock.marks['database stopped']:.2f}s; casework ready {recovered - back:.2f}s after "
              f"its database came back; backlog caught up {caught_up - back:.2f}s after")
        print(f"  counts: {counts.line()}; redeliveries absorbed by inboxes {absorbed}")

    assert counts.sent == total
    assert counts.lost == 0, counts.line()
    assert counts.case_duplicates == counts.delivery_duplicates == counts.email_duplicates == 0, counts.line()
    assert counts.assigned_events == total, counts.line()
    assert counts.dead_letters == 0, counts.line()
