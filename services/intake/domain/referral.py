"""Referral input models: a criminal case referred to the Diversion Unit for screening.

Validated at the boundary; a bad referral fails with an error whose location names the field.
"""

from __future__ import annotations

import datetime as dt
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.types import Email, IsoDate


class OffenseClass(StrEnum):
    """Missouri offense classes (RSMo 557.016 / 557.021) plus infractions."""

    FELONY_A = "felony_a"
    FELONY_B = "felony_b"
    FELONY_C = "felony_c"
    FELONY_D = "felony_d"
    FELONY_E = "felony_e"
    MISDEMEANOR_A = "misdemeanor_a"
    MISDEMEANOR_B = "misdemeanor_b"
    MISDEMEANOR_C = "misdemeanor_c"
    MISDEMEANOR_D = "misdemeanor_d"
    INFRACTION = "infraction"

    @property
    def is_felony(self) -> bool:
        return self in _FELONIES

    @property
    def is_misdemeanor(self) -> bool:
        return self in _MISDEMEANORS


FELONY_CLASSES: tuple[OffenseClass, ...] = tuple(c for c in OffenseClass if c.value.startswith("felony_"))
_FELONIES = frozenset(FELONY_CLASSES)
_MISDEMEANORS = frozenset(c for c in OffenseClass if c.value.startswith("misdemeanor_"))

ReferralSource = Literal["police", "prosecutor", "court", "defense", "self"]
PriorDiversionOutcome = Literal["completed", "terminated", "withdrawn", "in_progress", "unknown"]

# Bounds keep one referral small enough to store and screen quickly; real referrals sit far below them.
MAX_CHARGES = 50
MAX_CONVICTIONS = 200
MAX_PRIOR_DIVERSIONS = 50

Name = Annotated[str, Field(min_length=1, max_length=100)]
ShortText = Annotated[str, Field(min_length=1, max_length=60)]
Statute = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z][0-9A-Za-z.()\-]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Address(_Model):
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Annotated[str, Field(max_length=200)] | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    postal_code: Annotated[str, Field(pattern=r"^\d{5}(-\d{4})?$")]


class Defendant(_Model):
    first_name: Name
    last_name: Name
    date_of_birth: IsoDate
    # 40 like the catalog's Demographics.sex, so an accepted referral's event always validates.
    sex: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    race: ShortText | None = None
    ethnicity: ShortText | None = None
    phone: Annotated[str, Field(min_length=7, max_length=25, pattern=r"^\+?[0-9 ().\-]+$")] | None = None
    email: Annotated[Email, Field(max_length=254)] | None = None
    address: Address | None = None
    preferred_language: Literal["en", "es"] = "en"

    @field_validator("date_of_birth")
    @classmethod
    def _born_in_the_past(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("date of birth is in the future")
        return value


class Charge(_Model):
    statute: Statute
    description: Annotated[str, Field(min_length=1, max_length=200)]
    offense_class: OffenseClass
    offense_date: IsoDate
    # None: the agency's offense list decides by statute (see criteria.NonViolent).
    violent: bool | None = None

    @field_validator("offense_date")
    @classmethod
    def _offense_in_the_past(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("offense date is in the future")
        return value


class Conviction(_Model):
    date: IsoDate
    offense_class: OffenseClass
    violent: bool | None = None
    statute: Statute | None = None

    @field_validator("date")
    @classmethod
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > dt.date.today():
            raise ValueError("conviction date is in the future")
        return value


class PriorDiversion(_Model):
    date: IsoDate
    outcome: PriorDiversionOutcome = "unknown"

    @field_validator("date")
    @classmethod
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > dt.date.today():
            raise ValueError("prior diversion date is in the future")
        return value


class History(_Model):
    convictions: Annotated[list[Conviction], Field(max_length=MAX_CONVICTIONS)] = []
    prior_diversions: Annotated[list[PriorDiversion], Field(max_length=MAX_PRIOR_DIVERSIONS)] = []
    pending_cases: Annotated[int, Field(ge=0, le=1000)] = 0


class Referral(_Model):
    source: ReferralSource
    case_number: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z][0-9A-Za-z\-/. ]*$")]
    defendant: Defendant
    charges: Annotated[list[Charge], Field(min_length=1, max_length=MAX_CHARGES)]
    history: History = History()

    @model_validator(mode="after")
    def _events_after_birth(self) -> Referral:
        born = self.defendant.date_of_birth
        errors: list[InitErrorDetails] = []
        for i, charge in enumerate(self.charges):
            if charge.offense_date < born:
                errors.append(_before_birth(("charges", i, "offense_date"), "offense date", charge.offense_date))
        for i, conviction in enumerate(self.history.convictions):
            if conviction.date < born:
                errors.append(_before_birth(("history", "convictions", i, "date"), "conviction", conviction.date))
        for i, diversion in enumerate(self.history.prior_diversions):
            if diversion.date < born:
                errors.append(
                    _before_birth(("history", "prior_diversions", i, "date"), "prior diversion", diversion.date)
                )
        if errors:
            # A ValidationError (not ValueError) keeps the location of each offending field.
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @property
    def offense_date(self) -> date:
        """The earliest offense date among the charges: the date every criterion measures from."""
        return min(charge.offense_date for charge in self.charges)


def _before_birth(loc: tuple[str | int, ...], what: str, value: date) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError(
            "before_birth", "{what} {value} is before the date of birth", {"what": what, "value": str(value)}
        ),
        loc=loc,
        input=str(value),
    )


def age_on(born: date, on: date) -> int:
    """Age in whole years on a date; someone born on 29 February has a birthday on 1 March in common years."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def add_years(start: date, years: int) -> date:
    """The anniversary of `start` after `years`; 29 February lands on 1 March in common years."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)
