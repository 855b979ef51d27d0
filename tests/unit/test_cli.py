"""`diversion` behaves as Python users expect of a command: `--version`, `-h` wherever `--help` works,
choices checked before anything runs, and a token only from the secret the suite actually uses."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shared.auth import TokenVerifier
from shared.cli import _mount_optional_groups, cli
from shared.config import CommonSettings

DIVERSION = Path(sys.executable).parent / "diversion"


@pytest.fixture(scope="module")
def suite_cli() -> click.Group:
    _mount_optional_groups()  # as `diversion` composes it: dlq, referrals, directory, demo
    return cli


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def _env(tmp_path: Path, **extra: str) -> dict[str, str | None]:
    """No DIVERSION_* of the caller's shell: the data directory is tmp_path unless a test says otherwise."""
    import os

    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("DIVERSION_")}
    env.update({"DIVERSION_DATA_DIR": str(tmp_path), **extra})
    return env


def test_version_prints_the_installed_package_version():
    result = subprocess.run([str(DIVERSION), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"diversion, version {version('diversion')}"


def test_dash_h_is_help_on_every_command_and_group(suite_cli):
    paths = _command_paths(suite_cli)
    assert {("token",), ("dlq", "list"), ("directory", "export"), ("referrals", "import"), ("demo",)} <= set(paths)
    runner = CliRunner()
    for path in paths:
        short = runner.invoke(suite_cli, [*path, "-h"], prog_name="diversion")
        long = runner.invoke(suite_cli, [*path, "--help"], prog_name="diversion")
        assert short.exit_code == 0, (path, short.output)
        assert short.output == long.output, path
        assert short.output.startswith(f"Usage: {' '.join(('diversion', *path))}"), short.output
        assert "-h, --help" in short.output, path


def test_token_refuses_without_the_suites_secret_and_creates_none(suite_cli, tmp_path):
    result = CliRunner().invoke(suite_cli, ["token", "--agency", "stl-cao", "--role", "screener"],
                                env=_env(tmp_path))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "no JWT secret" in result.stderr
    assert str(tmp_path.resolve() / "jwt-secret") in result.stderr
    assert "DIVERSION_DATA_DIR" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no new secret that the suite would not know


@pytest.mark.parametrize("where", ["data_dir", "secret_file", "secret"])
def test_token_signs_with_the_secret_the_settings_name_and_the_suite_accepts_it(suite_cli, tmp_path, where):
    secret = "suite-secret-for-this-test-0123456789abcdef"
    if where == "data_dir":
        (tmp_path / "jwt-secret").write_text(secret)
        extra = {}
    elif where == "secret_file":
        (tmp_path / "elsewhere").write_text(secret + "\n")
        extra = {"DIVERSION_JWT_SECRET_FILE": str(tmp_path / "elsewhere")}
    else:
        extra = {"DIVERSION_JWT_SECRET": secret}
    result = CliRunner().invoke(suite_cli, ["token", "--agency", "stl-cao", "--role", "case_manager",
                                            "--role", "supervisor", "--ttl", "600"], env=_env(tmp_path, **extra))
    assert result.exit_code == 0, result.output
    verifier = TokenVerifier(CommonSettings(jwt_secret=secret, data_dir=tmp_path / "unused"))
    identity = verifier.verify_header(f"Bearer {result.stdout.strip()}")
    assert identity.agency == "stl-cao" and identity.roles == {"case_manager", "supervisor"}
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize(
    ("args", "option", "given"),
    [
        (["token", "--agency", "stl-cao", "--role", "wizard"], "--role", "wizard"),
        (["token", "--agency", "stl-cao", "--role", "screener", "--ttl", "0"], "--ttl", "0"),
        (["dlq", "list", "--service", "billing"], "--service", "billing"),
        (["dlq", "purge", "--service", "Intake", "--yes"], "--service", "Intake"),
        (["dlq", "list", "--service", "intake", "--limit", "0"], "--limit", "0"),
        (["migrate", "billing"], "[SERVICE]...", "billing"),
        (["seed", "--all", "billing"], "[SERVICE]...", "billing"),
        (["serve", "billing"], "{intake|casework|resources|notifications}", "billing"),
        (["directory", "export", "out.json", "--database-url", "mysql://db/resources"], "--database-url", "mysql"),
        (["directory", "export", "out.json", "--database-url", "not a url"], "--database-url", "not a database URL"),
    ],
)
def test_invalid_choices_are_usage_errors_naming_the_option(suite_cli, tmp_path, args, option, given):
    # nothing may reach a broker or a database: the broker named here does not exist
    result = CliRunner().invoke(suite_cli, args, env=_env(tmp_path, DIVERSION_AMQP_URI="amqp://guest:guest@127.0.0.1:1/"))
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.stderr
    assert given in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.json").exists()


def test_dlq_service_choices_are_the_four_services(suite_cli):
    dlq = suite_cli.commands["dlq"]
    assert isinstance(dlq, click.Group)
    for command in dlq.commands.values():
        (service,) = [param for param in command.params if param.name == "service"]
        assert isinstance(service.type, click.Choice)
        assert list(service.type.choices) == ["intake", "casework", "resources", "notifications"]


def test_dlq_without_a_broker_is_exit_code_3_with_a_hint_not_a_traceback(suite_cli, tmp_path):
    result = CliRunner().invoke(suite_cli, ["dlq", "list", "--service", "intake", "--amqp-uri",
                                            "amqp://guest:guest@127.0.0.1:1/"], env=_env(tmp_path))
    assert result.exit_code == 3, result.output
    assert "RabbitMQ is not reachable at 127.0.0.1:1/" in result.stderr
    assert "Traceback" not in result.output
