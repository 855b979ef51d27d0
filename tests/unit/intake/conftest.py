"""Fixtures for intake domain tests: a referral factory and the demo St. Louis pack."""

from __future__ import annotations

from typing import Any

import pytest
from intake_builders import MakeReferral, referral_data

from services.intake.domain.referral import Referral
from services.intake.domain.ruleset import Ruleset, load_bundled_ruleset


@pytest.fixture
def make_referral() -> MakeReferral:
    def make(**kwargs: Any) -> Referral:
        return Referral.model_validate(referral_data(**kwargs))

    return make


@pytest.fixture(scope="session")
def stl() -> Ruleset:
    return load_bundled_ruleset("stl-cao")
