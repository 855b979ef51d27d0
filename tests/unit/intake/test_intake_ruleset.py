"""Ruleset packs: the demo pack loads, bad packs are refused with a message saying where, plugins plug in."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from intake_builders import MakeReferral

from services.intake.domain.criteria import load_criteria
from services.intake.domain.ruleset import (
    RulesetError,
    bundled_pack_text,
    load_ruleset,
    parse_ruleset,
)
from services.intake.domain.screening import ScreeningStatus, screen

MINIMAL = """
agency: test-agency
name: Test agency
version: "1"
shared_requires:
  - criterion: felony_charge
programs:
  - id: young-adult
    name: Young adults
    duration: {min_months: 6, max_months: 18}
    requires:
      - criterion: age_range
        params: {min_age: 18, max_age: 25}
decline_reasons: [{code: not_eligible, label: Not eligible}]
override_reasons: [{code: discretion, label: Discretion}]
"""


def test_demo_pack_has_the_five_seed_programs() -> None:
    ruleset = parse_ruleset(bundled_pack_text("stl-cao"))
    assert ruleset.agency == "stl-cao"
    assert [p.id for p in ruleset.programs] == [
        "young-adult",
        "limited-history",
        "aged-history",
        "first-diversion",
        "second-chance",
    ]
    assert all((p.min_months, p.max_months) == (6, 18) for p in ruleset.programs)
    assert [r.criterion for r in ruleset.shared_requires] == ["felony_charge", "non_violent"]
    assert "565.020" in ruleset.offenses.violent and "570.030" in ruleset.offenses.non_violent


def test_content_hash_pins_the_data_not_the_layout() -> None:
    same = parse_ruleset(MINIMAL.replace('version: "1"', "# a comment\nversion:   '1'"))
    changed = parse_ruleset(MINIMAL.replace("max_age: 25", "max_age: 24"))
    assert parse_ruleset(MINIMAL).content_hash == same.content_hash
    assert parse_ruleset(MINIMAL).content_hash != changed.content_hash
    assert same.content_hash.startswith("sha256:")


def test_pack_naming_an_unknown_criterion_is_refused() -> None:
    with pytest.raises(RulesetError, match=r"program 'young-adult', requirement 1: unknown criterion 'age_rnage'"):
        parse_ruleset(MINIMAL.replace("criterion: age_range", "criterion: age_rnage"))


def test_pack_with_bad_params_is_refused_naming_the_param() -> None:
    with pytest.raises(RulesetError) as info:
        parse_ruleset(MINIMAL.replace("max_age: 25", "max_age: twenty-five"))
    assert "program 'young-adult', requirement 1 (age_range): param 'max_age'" in str(info.value)


def test_pack_with_an_unknown_param_is_refused() -> None:
    with pytest.raises(RulesetError, match=r"\(age_range\): param 'maximum'"):
        parse_ruleset(MINIMAL.replace("max_age: 25", "maximum: 25"))


def test_pack_with_an_inconsistent_param_range_is_refused() -> None:
    with pytest.raises(RulesetError, match="min_age 18 is above max_age 16"):
        parse_ruleset(MINIMAL.replace("max_age: 25", "max_age: 16"))


def test_bad_shared_requirement_is_refused_naming_it() -> None:
    with pytest.raises(RulesetError, match=r"shared requirement 1 \(felony_charge\): param 'classes.0'"):
        parse_ruleset(
            MINIMAL.replace("- criterion: felony_charge", "- {criterion: felony_charge, params: {classes: [x]}}")
        )


def test_pack_structure_errors_name_the_program() -> None:
    with pytest.raises(RulesetError, match=r"program 'young-adult'.duration: .*min_months 20 is above max_months 18"):
        parse_ruleset(MINIMAL.replace("min_months: 6", "min_months: 20"))
    with pytest.raises(RulesetError, match=r"version: .*quote it"):
        parse_ruleset(MINIMAL.replace('version: "1"', "version: 2026.1"))
    with pytest.raises(RulesetError, match="not valid YAML"):
        parse_ruleset("agency: [")


def test_duplicate_programs_and_conflicting_statute_lists_are_refused() -> None:
    doubled = MINIMAL.replace(
        "decline_reasons",
        textwrap.dedent("""\
        offenses:
          violent: [{statute: "570.030", description: Stealing}]
          non_violent: [{statute: " 570.030", description: Stealing}]
        decline_reasons"""),
    )
    with pytest.raises(RulesetError, match="570.030 is on both"):
        parse_ruleset(doubled)
    two = MINIMAL.replace(
        "programs:\n", "programs:\n  - {id: young-adult, name: X, duration: {min_months: 1, max_months: 2}}\n"
    )
    with pytest.raises(RulesetError, match="program 'young-adult' appears twice"):
        parse_ruleset(two)


def test_missing_pack_file_is_a_ruleset_error(tmp_path: Path) -> None:
    with pytest.raises(RulesetError, match="cannot read pack"):
        load_ruleset(tmp_path / "nope.yaml")


def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str, module: str) -> None:
    """Lay out an installed distribution (dist-info with entry points) on sys.path, as pip would."""
    (tmp_path / "agency_plugin.py").write_text(textwrap.dedent(module))
    dist = tmp_path / "agency_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: agency-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))


PLUGIN = """
    from services.intake.domain.criteria import Criterion, CriterionParams, CriterionStatus


    class NoPendingParams(CriterionParams):
        max_pending: int = 0


    class NoPendingCases(Criterion[NoPendingParams]):
        name = "no_pending_cases"
        Params = NoPendingParams

        def evaluate(self, referral, params, context):
            pending = referral.history.pending_cases
            status = CriterionStatus.MET if pending <= params.max_pending else CriterionStatus.NOT_MET
            return self.result(status, f"{pending} pending cases (max {params.max_pending})")
"""


def test_agency_plugin_installed_as_an_entry_point_is_usable_in_a_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_referral: MakeReferral
) -> None:
    install_plugin(
        tmp_path,
        monkeypatch,
        "[diversion.criteria]\nno_pending_cases = agency_plugin:NoPendingCases\n",
        PLUGIN,
    )
    assert "no_pending_cases" in load_criteria()
    pack = MINIMAL.replace(
        "      - criterion: age_range",
        "      - {criterion: no_pending_cases, params: {max_pending: 0}}\n      - criterion: age_range",
    )
    ruleset = parse_ruleset(pack)
    result = screen(make_referral(), ruleset)
    assert result.programs[0].criteria[1].reason == "0 pending cases (max 0)"
    assert result.recommendation is ScreeningStatus.ELIGIBLE


def test_broken_plugin_is_left_out_without_stopping_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    install_plugin(
        tmp_path,
        monkeypatch,
        "[diversion.criteria]\nbroken = agency_plugin:Missing\nnot_a_criterion = agency_plugin:helper\n",
        "def helper():\n    return 1\n",
    )
    with caplog.at_level(logging.WARNING):
        found = load_criteria()
    assert "broken" not in found and "not_a_criterion" not in found
    assert "age_range" in found
    assert "criterion plugin broken" in caplog.text
    with pytest.raises(RulesetError, match="unknown criterion 'broken'"):
        parse_ruleset(MINIMAL.replace("criterion: age_range", "criterion: broken"))
