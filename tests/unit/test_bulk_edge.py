"""The bulk route's shortcuts: a JSON body skips the bad-text walk only when it cannot hold bad text, and the
garbage collector pause nests and always ends."""

from __future__ import annotations

import gc
import json

import pytest

from shared.bulk import gc_paused
from shared.http.limits import bad_text_errors, may_hold_bad_text


@pytest.mark.parametrize("value", ["\x00", "\x1b[2J", "\x7f", "\ud800", "\udfff", "x\bx", "x\fx", "\x1f"])
def test_a_body_that_holds_bad_text_is_always_walked(value):
    for ensure_ascii in (True, False):
        raw = json.dumps([{"first_name": value}], ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
        assert bad_text_errors(json.loads(raw))  # the walk finds it...
        assert may_hold_bad_text(raw)  # ...and is never skipped
    assert may_hold_bad_text(json.dumps({"a": value}).encode("utf-16"))


@pytest.mark.parametrize("value", ["Dana", "José Ñúñez", "O'Neil-Smith", "tab\tok", "line\nok", "李"])
def test_plain_text_may_skip_the_walk_only_when_no_escape_is_written(value):
    raw = json.dumps([{"first_name": value}], ensure_ascii=False).encode()
    assert not bad_text_errors(json.loads(raw))
    assert may_hold_bad_text(raw) == (b"\\" in raw or b"\xed" in raw)


def test_gc_pause_nests_and_ends():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # turned off by someone else: left off
    finally:
        gc.enable()
