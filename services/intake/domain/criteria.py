"""Eligibility criteria: plugins that judge one referral against one rule with a reason and the evidence.

Built-ins are registered as entry points (group `diversion.criteria`); an agency adds its own by installing a
package that declares another entry point. `load_criteria` finds them all.

Over 400 lines on purpose: one class per built-in criterion of the published program, in the order the
program lists its criteria, beside the plugin contract they implement; each is short and read alone.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from .referral import FELONY_CLASSES, Charge, OffenseClass, PriorDiversionOutcome, Referral, add_years, age_on

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "diversion.criteria"


class CriterionStatus(StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    NEEDS_REVIEW = "needs_review"


class CriterionResult(BaseModel):
    """One criterion's verdict on one referral, with a reason a screener can read and the evidence used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    criterion: str
    status: CriterionStatus
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    evidence: dict[str, JsonValue] = {}
    # Set only when time alone stands in the way: the first date on which this criterion would be met.
    eligible_on: date | None = None


Listed = Literal["violent", "non_violent", "unknown"]


@dataclass(frozen=True)
class OffenseLists:
    """The agency's statute lists: which offenses count as violent and which are known to be non-violent."""

    violent: Mapping[str, str] = field(default_factory=dict)
    non_violent: Mapping[str, str] = field(default_factory=dict)

    # Statutes repeat across referrals; the cache is bounded because statutes come from outside.
    _cache: dict[str, tuple[Listed, str | None]] = field(default_factory=dict, compare=False, repr=False)

    def classify(self, statute: str) -> tuple[Listed, str | None]:
        """Which list names the statute (a listed section also covers its subsections: 565.050.1(2))."""
        known = self._cache.get(statute)
        if known is not None:
            return known
        found: tuple[Listed, str | None] = ("unknown", None)
        for candidate in _statute_candidates(statute):
            if candidate in self.violent:
                found = ("violent", candidate)
                break
            if candidate in self.non_violent:
                found = ("non_violent", candidate)
                break
        if len(self._cache) >= 10_000:
            self._cache.clear()
        self._cache[statute] = found
        return found


def normalize_statute(statute: str) -> str:
    return "".join(statute.split()).lower()


def _statute_candidates(statute: str) -> list[str]:
    current = normalize_statute(statute)
    candidates = [current]
    while True:
        cut = max(current.rfind("."), current.rfind("("))
        if cut <= 0 or "." not in current[:cut]:
            # Stop at chapter.section: "565" alone would match a whole chapter.
            break
        current = current[:cut]
        candidates.append(current)
    return candidates


@dataclass(frozen=True)
class ScreeningContext:
    """What a criterion may know besides the referral: the dates it measures from and the agency's lists."""

    today: date
    offense_date: date
    offenses: OffenseLists = field(default_factory=OffenseLists)


class CriterionParams(BaseModel):
    """Base for criterion parameters: unknown keys in a pack are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=CriterionParams)


class Criterion(ABC, Generic[P]):
    """A plugin: `name` (the key packs use), `Params` (validated when a pack loads) and `evaluate`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Params: type[P]

    @abstractmethod
    def evaluate(self, referral: Referral, params: P, context: ScreeningContext) -> CriterionResult:
        """Judge the referral; must not raise on a valid referral (the engine turns a raise into review)."""

    def result(
        self,
        status: CriterionStatus,
        reason: str,
        evidence: dict[str, JsonValue] | None = None,
        eligible_on: date | None = None,
    ) -> CriterionResult:
        return CriterionResult(
            criterion=self.name,
            status=status,
            reason=reason,
            evidence=evidence or {},
            eligible_on=eligible_on,
        )


MET, NOT_MET, NEEDS_REVIEW = CriterionStatus.MET, CriterionStatus.NOT_MET, CriterionStatus.NEEDS_REVIEW


class _BuiltIn(Criterion[P]):
    """Built-ins skip re-validating their own results: the evidence is JSON by construction (the property
    tests dump every screening to JSON) and validation was most of the screening time."""

    def result(
        self,
        status: CriterionStatus,
        reason: str,
        evidence: dict[str, JsonValue] | None = None,
        eligible_on: date | None = None,
    ) -> CriterionResult:
        return trusted(
            CriterionResult,
            {
                "criterion": self.name,
                "status": status,
                "reason": reason,
                "evidence": evidence or {},
                "eligible_on": eligible_on,
            },
        )


M = TypeVar("M", bound=BaseModel)


def trusted(model: type[M], values: dict[str, Any]) -> M:
    """Build a model from values this package built and typed itself, without validation.

    What `model_construct` does (pydantic 2.14) minus its per-field default handling, which cost as much as
    validating: `values` must name every field. Tests compare the result with a validated model.
    """
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def class_label(offense_class: OffenseClass) -> str:
    kind, _, letter = offense_class.value.partition("_")
    return f"class {letter.upper()} {kind}" if letter else kind


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _charge_label(charge: Charge) -> str:
    return f"{charge.statute} {charge.description}"


# --- felony_charge -------------------------------------------------------------------------------------


class FelonyChargeParams(CriterionParams):
    classes: tuple[OffenseClass, ...] = FELONY_CLASSES

    @field_validator("classes")
    @classmethod
    def _felonies_only(cls, value: tuple[OffenseClass, ...]) -> tuple[OffenseClass, ...]:
        if not value:
            raise ValueError("name at least one felony class")
        wrong = [c.value for c in value if not c.is_felony]
        if wrong:
            raise ValueError(f"not felony classes: {', '.join(wrong)}")
        return value


class FelonyCharge(_BuiltIn[FelonyChargeParams]):
    name = "felony_charge"
    description = "At least one felony charge (optionally of given classes)."
    Params = FelonyChargeParams

    def evaluate(self, referral: Referral, params: FelonyChargeParams, context: ScreeningContext) -> CriterionResult:
        felonies = [c for c in referral.charges if c.offense_class.is_felony]
        matching = [c for c in felonies if c.offense_class in params.classes]
        evidence: dict[str, JsonValue] = {
            "felony_charges": [{"statute": c.statute, "offense_class": c.offense_class.value} for c in felonies]
        }
        if params.classes != FELONY_CLASSES:
            evidence["classes"] = [c.value for c in params.classes]
        if not felonies:
            return self.result(NOT_MET, "no felony charge", evidence)
        if not matching:
            allowed = ", ".join(class_label(c) for c in params.classes)
            return self.result(NOT_MET, f"no felony charge of the program's classes ({allowed})", evidence)
        first = matching[0]
        reason = f"felony charge: {_charge_label(first)} ({class_label(first.offense_class)})"
        if len(matching) > 1:
            reason += f" and {len(matching) - 1} more"
        return self.result(MET, reason, evidence)


# --- non_violent ---------------------------------------------------------------------------------------


class NonViolentParams(CriterionParams):
    pass


class NonViolent(_BuiltIn[NonViolentParams]):
    name = "non_violent"
    description = (
        "No violent charge: an explicit flag on the charge, else the agency's violent and non-violent "
        "statute lists; a statute on neither list goes to review."
    )
    Params = NonViolentParams

    def evaluate(self, referral: Referral, params: NonViolentParams, context: ScreeningContext) -> CriterionResult:
        violent: list[str] = []
        unknown: list[str] = []
        conflicts: list[str] = []
        checked: list[JsonValue] = []
        for charge in referral.charges:
            listed, matched = context.offenses.classify(charge.statute)
            if charge.violent is True:
                verdict, basis = True, "referral"
                violent.append(f"{_charge_label(charge)} (marked violent on the referral)")
            elif charge.violent is False:
                verdict, basis = False, "referral"
                if listed == "violent":
                    # The referring agency says non-violent, our list says violent: a person must decide.
                    conflicts.append(charge.statute)
            elif listed == "violent":
                verdict, basis = True, "agency list"
                violent.append(f"{_charge_label(charge)} (on the agency's violent offense list)")
            elif listed == "non_violent":
                verdict, basis = False, "agency list"
            else:
                verdict, basis = None, "unknown statute"
                unknown.append(charge.statute)
            checked.append({"statute": charge.statute, "violent": verdict, "basis": basis, "listed_as": matched})
        evidence: dict[str, JsonValue] = {"charges": checked}
        if violent:
            return self.result(NOT_MET, "violent charge: " + "; ".join(violent), evidence)
        if unknown or conflicts:
            parts = []
            if unknown:
                parts.append(f"statute {', '.join(unknown)} is on neither of the agency's offense lists")
            if conflicts:
                parts.append(
                    f"statute {', '.join(conflicts)} is marked non-violent on the referral but is on the "
                    "agency's violent offense list"
                )
            return self.result(NEEDS_REVIEW, "; ".join(parts), evidence)
        return self.result(MET, f"no violent charge ({_plural(len(checked), 'charge')} checked)", evidence)


# --- age_range -----------------------------------------------------------------------------------------


class AgeRangeParams(CriterionParams):
    min_age: Annotated[int, Field(ge=0, le=130)] | None = None
    max_age: Annotated[int, Field(ge=0, le=130)] | None = None

    @model_validator(mode="after")
    def _a_range(self) -> AgeRangeParams:
        if self.min_age is None and self.max_age is None:
            raise ValueError("set min_age, max_age or both")
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        return self

    def label(self) -> str:
        if self.min_age is not None and self.max_age is not None:
            return f"{self.min_age}-{self.max_age}"
        if self.min_age is not None:
            return f"{self.min_age} or older"
        return f"{self.max_age} or younger"


class AgeRange(_BuiltIn[AgeRangeParams]):
    name = "age_range"
    description = "Age in whole years on the offense date within [min_age, max_age], both inclusive."
    Params = AgeRangeParams

    def evaluate(self, referral: Referral, params: AgeRangeParams, context: ScreeningContext) -> CriterionResult:
        age = age_on(referral.defendant.date_of_birth, context.offense_date)
        inside = (params.min_age is None or age >= params.min_age) and (params.max_age is None or age <= params.max_age)
        evidence: dict[str, JsonValue] = {
            "age": age,
            "offense_date": context.offense_date.isoformat(),
            "min_age": params.min_age,
            "max_age": params.max_age,
        }
        return self.result(MET if inside else NOT_MET, f"{age} on the offense date ({params.label()})", evidence)


# --- prior_convictions ---------------------------------------------------------------------------------


class PriorConvictionsParams(CriterionParams):
    # None means no limit on that kind; infractions never count.
    max_felonies: Annotated[int, Field(ge=0, le=1000)] | None = None
    max_misdemeanors: Annotated[int, Field(ge=0, le=1000)] | None = None

    @model_validator(mode="after")
    def _some_limit(self) -> PriorConvictionsParams:
        if self.max_felonies is None and self.max_misdemeanors is None:
            raise ValueError("set max_felonies, max_misdemeanors or both")
        return self


class PriorConvictions(_BuiltIn[PriorConvictionsParams]):
    name = "prior_convictions"
    description = "At most max_felonies prior felony and max_misdemeanors prior misdemeanor convictions."
    Params = PriorConvictionsParams

    def evaluate(
        self, referral: Referral, params: PriorConvictionsParams, context: ScreeningContext
    ) -> CriterionResult:
        convictions = referral.history.convictions
        felonies = sum(1 for c in convictions if c.offense_class.is_felony)
        misdemeanors = sum(1 for c in convictions if c.offense_class.is_misdemeanor)
        parts: list[str] = []
        over = False
        for count, limit, noun in (
            (felonies, params.max_felonies, "prior felony conviction"),
            (misdemeanors, params.max_misdemeanors, "prior misdemeanor conviction"),
        ):
            if limit is None:
                continue
            parts.append(f"{_plural(count, noun)} (max {limit})")
            over = over or count > limit
        evidence: dict[str, JsonValue] = {
            "felonies": felonies,
            "misdemeanors": misdemeanors,
            "max_felonies": params.max_felonies,
            "max_misdemeanors": params.max_misdemeanors,
        }
        return self.result(NOT_MET if over else MET, ", ".join(parts), evidence)


# --- time_since_conviction -----------------------------------------------------------------------------


class TimeSinceConvictionParams(CriterionParams):
    years: Annotated[int, Field(ge=1, le=100)]
    # offense_date: the seed's rule ("history more than five years old" when the offense happened).
    # screening_date: for agencies that count to the day of screening; eligible_on is then a real future day.
    measured_from: Literal["offense_date", "screening_date"] = "offense_date"


class TimeSinceConviction(_BuiltIn[TimeSinceConvictionParams]):
    name = "time_since_conviction"
    description = (
        "Every prior conviction more than `years` years before the offense date (or the screening date). "
        "When not met, eligible_on = last conviction + years + 1 day: the first reference date that passes."
    )
    Params = TimeSinceConvictionParams

    def evaluate(
        self, referral: Referral, params: TimeSinceConvictionParams, context: ScreeningContext
    ) -> CriterionResult:
        reference = context.offense_date if params.measured_from == "offense_date" else context.today
        label = "offense date" if params.measured_from == "offense_date" else "screening date"
        evidence: dict[str, JsonValue] = {
            "years": params.years,
            "measured_from": params.measured_from,
            "reference_date": reference.isoformat(),
            "last_conviction": None,
        }
        convictions = referral.history.convictions
        if not convictions:
            return self.result(MET, "no prior convictions", evidence)
        last = max(c.date for c in convictions)
        evidence["last_conviction"] = last.isoformat()
        # "More than N years": the N-year anniversary itself is still inside the window.
        first_clear_day = add_years(last, params.years) + timedelta(days=1)
        evidence["eligible_on"] = first_clear_day.isoformat()
        if reference >= first_clear_day:
            return self.result(
                MET,
                f"last conviction {last} is more than {params.years} years before the {label} {reference}",
                evidence,
            )
        when = (
            f"would qualify for an offense on or after {first_clear_day}"
            if params.measured_from == "offense_date"
            else f"qualifies from {first_clear_day}"
        )
        return self.result(
            NOT_MET,
            f"last conviction {last} is within {params.years} years of the {label} {reference}; {when}",
            evidence,
            eligible_on=first_clear_day,
        )


# --- prior_diversion -----------------------------------------------------------------------------------


class PriorDiversionParams(CriterionParams):
    max_prior: Annotated[int, Field(ge=0, le=100)] = 0
    # Which outcomes count as having had the opportunity; None counts every prior diversion.
    outcomes: tuple[PriorDiversionOutcome, ...] | None = None


class PriorDiversion(_BuiltIn[PriorDiversionParams]):
    name = "prior_diversion"
    description = "At most max_prior earlier diversions (0: never had the opportunity)."
    Params = PriorDiversionParams

    def evaluate(self, referral: Referral, params: PriorDiversionParams, context: ScreeningContext) -> CriterionResult:
        counted = [
            d for d in referral.history.prior_diversions if params.outcomes is None or d.outcome in params.outcomes
        ]
        evidence: dict[str, JsonValue] = {
            "prior_diversions": [{"date": d.date.isoformat(), "outcome": d.outcome} for d in counted],
            "max_prior": params.max_prior,
        }
        if not counted:
            return self.result(MET, "no prior diversion", evidence)
        listed = ", ".join(f"{d.date} {d.outcome}" for d in counted[:3])
        limit = "none allowed" if params.max_prior == 0 else f"max {params.max_prior}"
        status = NOT_MET if len(counted) > params.max_prior else MET
        return self.result(status, f"{_plural(len(counted), 'prior diversion')} ({listed}); {limit}", evidence)


# --- manual_review -------------------------------------------------------------------------------------


class ManualReviewParams(CriterionParams):
    prompt: Annotated[str, Field(min_length=1, max_length=300)] = "a screener's judgement"


class ManualReview(_BuiltIn[ManualReviewParams]):
    name = "manual_review"
    description = "Always needs review: a person decides (e.g. 'deserves another chance')."
    Params = ManualReviewParams

    def evaluate(self, referral: Referral, params: ManualReviewParams, context: ScreeningContext) -> CriterionResult:
        return self.result(NEEDS_REVIEW, params.prompt)


# --- registry ------------------------------------------------------------------------------------------

AnyCriterion = type[Criterion[Any]]

# Used when package metadata is not installed (running from a source tree), so the built-ins always work.
BUILTIN_CRITERIA: Mapping[str, AnyCriterion] = {
    c.name: c
    for c in (
        FelonyCharge,
        NonViolent,
        AgeRange,
        PriorConvictions,
        TimeSinceConviction,
        PriorDiversion,
        ManualReview,
    )
}


class CriterionPluginError(Exception):
    """An installed criterion plugin cannot be used; the message names the entry point."""


def check_plugin(key: str, obj: object) -> AnyCriterion:
    """Refuse an entry point that is not a Criterion subclass with a pydantic Params model."""
    if not (isinstance(obj, type) and issubclass(obj, Criterion)):
        raise CriterionPluginError(f"criterion plugin {key!r} is not a Criterion subclass: {obj!r}")
    params = getattr(obj, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise CriterionPluginError(f"criterion plugin {key!r} has no pydantic Params model")
    return obj


def load_criteria(*, use_entry_points: bool = True) -> dict[str, AnyCriterion]:
    """Every usable criterion by name: the built-ins, then installed `diversion.criteria` entry points.

    A plugin that fails to import is logged and left out, so one broken agency package cannot stop
    intake; a pack that names it is then refused at load as an unknown criterion.
    """
    found: dict[str, AnyCriterion] = dict(BUILTIN_CRITERIA)
    if not use_entry_points:
        return found
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[ep.name] = check_plugin(ep.name, ep.load())
        except Exception as exc:  # noqa: BLE001 - any import-time failure of third-party code
            log.warning("criterion plugin %s (%s) not loaded: %s", ep.name, ep.value, exc)
    return found
