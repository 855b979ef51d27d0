"""A person's contact preferences: language, opt-outs, and SMS keywords that change them.

Keywords follow the US carrier / CTIA convention: the whole message (trimmed, any case) is the
keyword; "please stop texting me" is not an opt-out keyword and is left to a person to read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

SUPPORTED_LANGUAGES = ("en", "es")
FALLBACK_LANGUAGE = "en"

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO", "AYUDA"})


class SmsKeyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


@dataclass(frozen=True)
class ContactPreferences:
    language: str | None = None
    sms_opt_out: bool = False
    email_opt_out: bool = False
    do_not_contact: bool = False  # set by staff: no messages on any channel


def choose_language(preferred: str | None, available: tuple[str, ...] = SUPPORTED_LANGUAGES) -> str:
    """The preferred language's primary tag when we have templates for it ("es-MX" -> "es"), else en."""
    if preferred:
        primary = preferred.strip().replace("_", "-").split("-")[0].lower()
        if primary in available:
            return primary
    return FALLBACK_LANGUAGE


def should_send(prefs: ContactPreferences, channel: str) -> bool:
    """Whether a message to this person may go out on `channel` ("sms", "email", ...)."""
    if prefs.do_not_contact:
        return False
    if channel == "sms":
        return not prefs.sms_opt_out
    if channel == "email":
        return not prefs.email_opt_out
    return True


def parse_sms_keyword(body: str) -> SmsKeyword | None:
    """The keyword an inbound SMS carries, or None for an ordinary reply."""
    word = body.strip().rstrip(".!").strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return SmsKeyword.OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return SmsKeyword.OPT_IN
    if word in HELP_KEYWORDS:
        return SmsKeyword.HELP
    return None


def apply_sms_reply(prefs: ContactPreferences, body: str) -> ContactPreferences:
    """Preferences after an inbound SMS; unchanged for HELP and ordinary replies."""
    keyword = parse_sms_keyword(body)
    if keyword is SmsKeyword.OPT_OUT:
        return replace(prefs, sms_opt_out=True)
    if keyword is SmsKeyword.OPT_IN:
        return replace(prefs, sms_opt_out=False)
    return prefs
