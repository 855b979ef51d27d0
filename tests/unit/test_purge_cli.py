"""`diversion purge` refuses a bad `--now` before touching any database (usage error, exit 2)."""

from __future__ import annotations

from click.testing import CliRunner

from shared.purge_cli import purge_command


def test_now_without_a_timezone_is_a_usage_error() -> None:
    result = CliRunner().invoke(purge_command, ["--now", "2027-01-01T00:00:00"])
    assert result.exit_code == 2
    assert "timezone" in result.output


def test_now_that_is_not_an_instant_is_a_usage_error() -> None:
    result = CliRunner().invoke(purge_command, ["--now", "yesterday"])
    assert result.exit_code == 2
    assert "ISO 8601" in result.output
