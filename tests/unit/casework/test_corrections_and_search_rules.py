"""Domain rules of corrections (what changed, what events may change, who sees values) and of name search."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.casework.domain.assignment import CaseManager, LeastCaseload, staff_loads
from services.casework.domain.corrections import (
    REDACTED,
    Change,
    FieldChange,
    diff,
    from_event,
    staff_set_after,
    visible,
)
from services.casework.domain.search import escape_like, fold, matches, name_patterns, search_key


@pytest.mark.parametrize(("text", "folded"), [
    ("José Álvarez", "jose alvarez"),
    ("  MUÑOZ   Peña ", "munoz pena"),
    ("Straße", "strasse"),
    ("Đorđević", "đorđevic"),  # no decomposition for đ: kept, casefolded
    ("Zoë O'Brien", "zoe o'brien"),
    ("ﬁona", "fiona"),  # compatibility ligature
])
def test_fold_drops_accents_case_and_extra_spaces(text, folded):
    assert fold(text) == folded


def test_a_name_prefix_typed_without_accents_matches_the_first_or_a_later_word():
    key = search_key("José", "Álvarez")
    assert key == "jose alvarez"
    for query in ("jose", "JOSÉ", "Jo", "alv", "ÁLVAREZ", "jose alv"):
        assert matches(key, query), query
    for query in ("ose", "varez", "josef", "alvarez jose", "", "  ", "\u0301"):
        assert not matches(key, query), query


def test_like_patterns_escape_wildcards_and_refuse_an_empty_query():
    assert name_patterns("Jo") == ("jo%", "% jo%")
    assert name_patterns("50%_\\") == ("50\\%\\_\\\\%", "% 50\\%\\_\\\\%")
    assert name_patterns("\u0301 ") is None
    assert escape_like("a_b") == "a\\_b"


def test_diff_names_only_the_fields_that_change_in_the_requests_order():
    current = {"phone": "1", "city": "A", "region": None}
    assert diff(current, {"city": "B", "phone": "1", "region": "MO"}) == [
        FieldChange(field="city", old="A", new="B"), FieldChange(field="region", old=None, new="MO")]
    assert diff(current, {"phone": "1"}) == []


def test_an_event_never_overwrites_a_field_staff_set_and_never_clears_one():
    current = {"preferred_language": "es", "phone": "1", "email": None}
    offered = {"preferred_language": "en", "phone": "2", "email": None}
    assert from_event(current, offered, staff_set=["preferred_language"]) == {"phone": "2"}
    assert from_event(current, offered, staff_set=[]) == {"preferred_language": "en", "phone": "2"}
    assert from_event(current, {"phone": "1"}, staff_set=[]) == {}


def test_the_fields_staff_saved_become_staff_set_once():
    changes = [FieldChange(field="preferred_language", old="en", new="es"), FieldChange(field="city", new="X")]
    assert staff_set_after(["city"], changes) == ["city", "preferred_language"]


def test_a_reader_who_may_not_see_values_sees_which_fields_changed_only():
    change = Change(version=2, changed_at=datetime(2026, 1, 1, tzinfo=UTC), changed_by="sup-1",
                    changes=(FieldChange(field="phone", old=None, new="+1314"), FieldChange(field="active",
                                                                                          old=True, new=False)))
    assert visible(change, may_see_values=True) == change
    hidden = visible(change, may_see_values=False)
    assert [(c.field, c.old, c.new) for c in hidden.changes] == [("phone", None, REDACTED),
                                                                 ("active", REDACTED, REDACTED)]
    assert (hidden.version, hidden.changed_by) == (2, "sup-1")


def test_a_deactivated_case_manager_is_never_a_candidate():
    managers = [CaseManager(id="gone", agency_id="a", name="G", programs=frozenset({"p"}), active=False),
                CaseManager(id="here", agency_id="a", name="H", programs=frozenset({"p"}), caseload_cap=1)]
    loads = staff_loads(managers, {"gone": 0, "here": 1})
    assert [c.id for c in loads] == ["here"]

    class Case:
        id, program_id = "c", "p"

    assert LeastCaseload().choose(loads, Case()) is None  # the only active one is full: the case waits


def test_the_timeline_orders_by_time_then_by_how_a_case_unfolds_and_a_new_source_is_one_function():
    from services.casework.schemas_corrections import TimelineEntry
    from services.casework.usecases import timeline

    at = datetime(2026, 1, 1, tzinfo=UTC)

    def entry(source: str, kind: str, when: datetime = at, id: str = "1") -> TimelineEntry:
        return TimelineEntry(at=when, kind=kind, source=source, id=id, summary=kind)

    def hearings(session, case):  # a source another helper adds: one function in the list
        yield entry("hearing", "hearing.held", at.replace(day=2))

    sources = [lambda s, c: [entry("plan", "plan.version")], lambda s, c: [entry("assignment", "case.assigned")],
               lambda s, c: [entry("case", "case.opened")], hearings]
    ordered = timeline.entries(None, None, sources)  # type: ignore[arg-type]
    assert [e.kind for e in ordered] == ["case.opened", "case.assigned", "plan.version", "hearing.held"]
