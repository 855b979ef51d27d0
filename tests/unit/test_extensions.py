"""The shared nameko plumbing: settings read once from the container, timers driven by them, typed audit."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

from pydantic import Field
from pydantic_settings import BaseSettings
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.orm import Session

from shared.audit import audit_table
from shared.auth import Identity
from shared.config import SETTINGS_KEY, load_settings
from shared.extensions import AuditLog, OwnSettings, SettingsTimer, own_settings
from shared.http.api import Call


class DemoSettings(BaseSettings):
    interval_seconds: float = Field(default=30.0)
    batch: int = 5


def _container(extra: BaseSettings | None) -> SimpleNamespace:
    settings = dataclasses.replace(load_settings("intake", env={}), extra=extra)
    return SimpleNamespace(config={SETTINGS_KEY: settings}, service_name="demo")


def test_own_settings_are_the_extras_of_that_class_else_the_defaults() -> None:
    mine = DemoSettings(batch=9)
    assert own_settings(_container(mine), DemoSettings) is mine
    assert own_settings(_container(mine).config, DemoSettings) is mine
    assert own_settings(_container(None), DemoSettings).batch == 5
    assert own_settings({}, DemoSettings).batch == 5


def test_service_settings_inject_the_object_read_at_setup() -> None:
    provider = OwnSettings(DemoSettings)
    provider.container = _container(DemoSettings(batch=3))
    provider.setup()
    assert provider.get_dependency(None).batch == 3


def test_settings_timer_takes_its_interval_from_settings_at_setup() -> None:
    timer = SettingsTimer(DemoSettings, "interval_seconds")
    assert timer.interval == 30.0  # the field's default until setup
    timer.container = _container(DemoSettings(interval_seconds=0.25))
    timer.setup()
    assert timer.interval == 0.25


def test_audit_log_records_who_what_where_in_the_callers_session() -> None:
    engine = create_engine("sqlite://")
    metadata = MetaData()
    table = audit_table(metadata)
    metadata.create_all(engine)
    session = Session(engine)
    log = AuditLog("demo", lambda: session)
    who = Identity(sub="cm-1", agency="stl", roles=frozenset({"case_manager"}))
    call = Call(identity=who, path={}, request_id="req-1", remote_addr="10.0.0.9")
    log.record(call, "case.read", "case", "c-1", detail={"ids": ["c-1"]})
    log.record_as(Identity(sub="service:demo", agency="stl", roles=frozenset({"screener"})), "case.swept", "case",
                  None, request_id="evt-7")
    session.rollback()  # in the caller's transaction: rolled back with it
    assert session.execute(select(table)).all() == []
    log.record(call, "case.read", "case", "c-1", detail={"ids": ["c-1"]}, outcome="denied")
    session.commit()
    row = session.execute(select(table)).mappings().one()
    assert (row["service"], row["agency_id"], row["actor"], row["actor_roles"], row["action"], row["resource_type"],
            row["resource_id"], row["outcome"], row["source_ip"], row["request_id"], row["detail"]) == (
        "demo", "stl", "cm-1", "case_manager", "case.read", "case", "c-1", "denied", "10.0.0.9", "req-1",
        {"ids": ["c-1"]})
    assert row["occurred_at"] <= dt.datetime.now(dt.UTC)
    log.record_now(call, "case.listed", "case", None)  # own transaction: kept whatever the session does
    session.rollback()
    assert session.execute(select(table.c.action).order_by(table.c.id)).scalars().all() == ["case.read",
                                                                                          "case.listed"]
