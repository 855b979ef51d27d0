"""Message templates: sandboxed Jinja2, defaults in en/ and es/, per-agency overrides on top.

A template is addressed as `<language>/<name>.<part>`: parts are `sms`, `subject`, `txt` and
`html` (only `html` is autoescaped). Agency overrides use the same keys and replace a default
part by part; anything an override does not define falls back to the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    DictLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    pass_context,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from services.notifications.domain.preferences import FALLBACK_LANGUAGE, choose_language

DEFAULTS_DIR = Path(__file__).resolve().parent
TEMPLATE_SUFFIX = ".j2"
EMAIL_TEMPLATES = (
    "appointment_reminder",
    "staff_new_assignment",
    "staff_service_referral_rejected",
    "staff_escalation",
    "staff_checkin_overdue",
    "staff_contact_overdue",
    "staff_end_approaching",
    "staff_plan_updated",
    "staff_delivery_failed",
)
SMS_TEMPLATES = ("appointment_reminder",)

_DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
           "octubre", "noviembre", "diciembre"),
}  # fmt: skip


class TemplateRefused(Exception):
    """A template tried something the sandbox forbids (e.g. reaching Python internals)."""


class TemplateInvalid(Exception):
    """A template does not parse, or needs a value the caller did not give."""


class TemplateMissing(LookupError):
    """Neither the agency nor the defaults have this template."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    language: str


def format_when(moment: datetime, language: str = "en") -> str:
    """A date and time as people read it ("Tuesday, March 4 at 2:30 PM"), in the moment's own timezone."""
    if language == "es":
        day = _DAYS["es"][moment.weekday()]
        month = _MONTHS["es"][moment.month - 1]
        return f"{day} {moment.day} de {month} a las {moment:%H:%M}"
    hour = moment.hour % 12 or 12
    ampm = "AM" if moment.hour < 12 else "PM"
    day = _DAYS["en"][moment.weekday()]
    month = _MONTHS["en"][moment.month - 1]
    return f"{day}, {month} {moment.day} at {hour}:{moment:%M} {ampm}"


@pass_context
def _when_filter(context: Context, moment: datetime) -> str:
    return format_when(moment, str(context.get("language", FALLBACK_LANGUAGE)))


def _autoescape(name: str | None) -> bool:
    return bool(name) and str(name).endswith(".html" + TEMPLATE_SUFFIX)


def load_overrides_from_folder(folder: Path) -> dict[str, dict[str, str]]:
    """Read `<folder>/<agency>/<language>/<name>.<part>.j2` files.

    Returns {agency: {"<language>/<name>.<part>": source}}, the shape TemplateRenderer takes.
    """
    overrides: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob(f"*/*/*{TEMPLATE_SUFFIX}")):
        agency, language = path.parent.parent.name, path.parent.name
        key = f"{language}/{path.name[: -len(TEMPLATE_SUFFIX)]}"
        overrides.setdefault(agency, {})[key] = path.read_text(encoding="utf-8")
    return overrides


class TemplateRenderer:
    """Renders notifications for an agency, in a language, from sandboxed templates."""

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, str]] | None = None,
        defaults_dir: Path = DEFAULTS_DIR,
    ) -> None:
        self.defaults_dir = defaults_dir
        self._overrides = {agency: dict(templates) for agency, templates in (overrides or {}).items()}
        self._environments: dict[str | None, SandboxedEnvironment] = {}
        for agency in self._overrides:
            self.validate_overrides(agency)

    def _environment(self, agency: str | None) -> SandboxedEnvironment:
        key = agency if agency in self._overrides else None
        if key not in self._environments:
            defaults = FileSystemLoader(str(self.defaults_dir))
            loader: BaseLoader = defaults
            if key is not None:
                own = {name + TEMPLATE_SUFFIX: source for name, source in self._overrides[key].items()}
                loader = ChoiceLoader([DictLoader(own), defaults])
            environment = SandboxedEnvironment(
                loader=loader,
                autoescape=_autoescape,
                undefined=StrictUndefined,  # a missing value is an error, not a silent blank in a reminder
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            environment.filters["when"] = _when_filter
            self._environments[key] = environment
        return self._environments[key]

    def validate_overrides(self, agency: str) -> None:
        """Compile an agency's overrides now, so a broken one fails at load time with its name."""
        environment = self._environment(agency)
        for name, source in self._overrides.get(agency, {}).items():
            try:
                environment.parse(source)
            except TemplateSyntaxError as exc:
                raise TemplateInvalid(
                    f"template {name!r} of agency {agency!r}: {exc.message} (line {exc.lineno})"
                ) from None

    def render(self, key: str, context: Mapping[str, Any], agency: str | None = None) -> str:
        """Render one part, e.g. key "es/appointment_reminder.sms"; language fallback is the caller's."""
        environment = self._environment(agency)
        language = key.split("/", 1)[0]
        try:
            template = environment.get_template(key + TEMPLATE_SUFFIX)
            return template.render({**context, "language": language}).strip()
        except TemplateNotFound:
            raise TemplateMissing(f"no template {key!r} for agency {agency!r}") from None
        except SecurityError as exc:
            raise TemplateRefused(f"template {key!r} was refused by the sandbox: {exc}") from None
        except UndefinedError as exc:
            raise TemplateInvalid(f"template {key!r} needs a value that was not given: {exc}") from None
        except TemplateError as exc:
            raise TemplateInvalid(f"template {key!r} failed: {exc}") from None

    def _language(self, name: str, part: str, preferred: str | None, agency: str | None) -> str:
        language = choose_language(preferred)
        try:
            self._environment(agency).get_template(f"{language}/{name}.{part}{TEMPLATE_SUFFIX}")
        except TemplateNotFound:
            return FALLBACK_LANGUAGE
        return language

    def render_sms(
        self, name: str, context: Mapping[str, Any], language: str | None = None, agency: str | None = None
    ) -> str:
        lang = self._language(name, "sms", language, agency)
        return self.render(f"{lang}/{name}.sms", context, agency)

    def render_email(
        self, name: str, context: Mapping[str, Any], language: str | None = None, agency: str | None = None
    ) -> RenderedEmail:
        lang = self._language(name, "subject", language, agency)
        subject = " ".join(self.render(f"{lang}/{name}.subject", context, agency).split())
        return RenderedEmail(
            subject=subject,
            text=self.render(f"{lang}/{name}.txt", context, agency),
            html=self.render(f"{lang}/{name}.html", context, agency),
            language=lang,
        )
