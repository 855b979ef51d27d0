"""Contact preferences: opt-outs, SMS keywords and language choice."""

from __future__ import annotations

import pytest

from services.notifications.domain.preferences import (
    ContactPreferences,
    SmsKeyword,
    apply_sms_reply,
    choose_language,
    parse_sms_keyword,
    should_send,
)


@pytest.mark.parametrize(
    "body", ["STOP", "stop", "  Stop  ", "STOPALL", "unsubscribe", "Cancel", "END", "quit", "stop."]
)
def test_stop_keywords_are_an_opt_out(body: str) -> None:
    assert parse_sms_keyword(body) is SmsKeyword.OPT_OUT


@pytest.mark.parametrize("body", ["START", " unstop ", "Start"])
def test_start_keywords_are_an_opt_in(body: str) -> None:
    assert parse_sms_keyword(body) is SmsKeyword.OPT_IN


@pytest.mark.parametrize("body", ["ok see you then", "please stop by later", "STOP IT NOW", "", "yes"])
def test_ordinary_replies_are_not_keywords(body: str) -> None:
    assert parse_sms_keyword(body) is None


def test_stop_then_start_turns_sms_off_and_on_again() -> None:
    prefs = apply_sms_reply(ContactPreferences(), " STOP ")
    assert not should_send(prefs, "sms")
    assert should_send(prefs, "email")  # STOP by text only concerns texts
    prefs = apply_sms_reply(prefs, "unstop")
    assert should_send(prefs, "sms")


def test_help_reply_does_not_change_preferences() -> None:
    prefs = ContactPreferences(sms_opt_out=True)
    assert parse_sms_keyword("help") is SmsKeyword.HELP
    assert apply_sms_reply(prefs, "HELP") == prefs


def test_do_not_contact_blocks_every_channel() -> None:
    prefs = ContactPreferences(do_not_contact=True)
    assert not any(should_send(prefs, channel) for channel in ("sms", "email", "webhook"))


def test_email_opt_out_blocks_email_only() -> None:
    prefs = ContactPreferences(email_opt_out=True)
    assert not should_send(prefs, "email") and should_send(prefs, "sms")


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [("es", "es"), ("es-MX", "es"), ("ES_us", "es"), ("en", "en"), ("fr", "en"), (None, "en"), ("", "en")],
)
def test_language_follows_preference_with_english_fallback(preferred: str | None, expected: str) -> None:
    assert choose_language(preferred) == expected
