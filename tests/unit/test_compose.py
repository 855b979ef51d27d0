"""The production deployment files keep the promises of DESIGN section 7.

No Docker engine runs here, so docker-compose.yml is validated against the Compose JSON Schema (a copy
in deploy/compose-spec) and read, with the Dockerfile and the PostgreSQL init script, for the
properties that make `docker compose up --scale casework=3` work. Each property is also broken on
purpose in a copy, to show the checker notices.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy.engine import make_url

from shared.config import DEFAULT_PORTS, SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCHEMA_FILE = ROOT / "deploy" / "compose-spec" / "compose-spec.json"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "init-databases.sh"
DOCKERFILE = ROOT / "Dockerfile"

INIT_DIR = "/docker-entrypoint-initdb.d"
ROOT_USERS = {"root", "0"}
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?)([-?])([^}]*))?\}")


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def compose_validator() -> jsonschema.protocols.Validator:
    """The validator of the draft the schema itself declares in `$schema`."""
    schema = json.loads(SCHEMA_FILE.read_text())
    declared = schema["$schema"].replace("https://", "http://").rstrip("#")
    drafts = {
        "http://json-schema.org/draft-07/schema": jsonschema.Draft7Validator,
        "http://json-schema.org/draft/2019-09/schema": jsonschema.Draft201909Validator,
        "http://json-schema.org/draft/2020-12/schema": jsonschema.Draft202012Validator,
    }
    assert declared in drafts, f"the compose schema declares an unexpected draft: {schema['$schema']}"
    cls = drafts[declared]
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def interpolate(value: str) -> str:
    """What Compose substitutes when none of the variables is set: the `:-` defaults."""

    def replace(match: re.Match[str]) -> str:
        return match.group(4) if match.group(3) == "-" else ""

    return _VARIABLE.sub(replace, value)


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = [item.split("=", 1) if "=" in item else [item, None] for item in env]
        return {key: value for key, value in pairs}
    return {key: None if value is None else str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    raw = service.get("command")
    if raw is None:
        return []
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (the short list form means `service_started`)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def pinned(image: str) -> bool:
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    return "@sha256:" in image or (tag != "latest" and bool(re.search(r"\d", tag)))


def compose_problems(compose: dict[str, Any]) -> list[str]:
    """Every way docker-compose.yml breaks DESIGN section 7; empty when it keeps all promises."""
    problems: list[str] = []
    services: dict[str, Any] = compose.get("services") or {}
    required = ("rabbitmq", "postgres", "migrate", *SERVICES)
    missing = [name for name in required if name not in services]
    if missing:
        return [f"missing services: {', '.join(missing)}"]

    rabbitmq, postgres, migrate = services["rabbitmq"], services["postgres"], services["migrate"]
    image = rabbitmq.get("image", "")
    if "management" not in image:
        problems.append(f"rabbitmq image {image!r} has no management plugin")
    if not pinned(image):
        problems.append(f"rabbitmq image {image!r} is not pinned")
    if not pinned(postgres.get("image", "")):
        problems.append(f"postgres image {postgres.get('image')!r} is not pinned")
    problems.extend(broker_problems(rabbitmq))
    for name in ("rabbitmq", "postgres"):
        if not services[name].get("healthcheck", {}).get("test"):
            problems.append(f"{name} has no healthcheck")
    mounts = [str(volume) for volume in postgres.get("volumes", [])]
    if not any(
        mount.endswith((f"{INIT_DIR}/10-diversion-databases.sh:ro", f"{INIT_DIR}/")) for mount in mounts
    ):
        problems.append("postgres does not mount the init script into /docker-entrypoint-initdb.d")
    declared_volumes = compose.get("volumes") or {}
    for name, target in (("postgres", "/var/lib/postgresql/data"), ("rabbitmq", "/var/lib/rabbitmq")):
        volume = [
            str(mount).split(":")[0]
            for mount in services[name].get("volumes", [])
            if str(mount).split(":")[1:2] == [target]
        ]
        if not volume or volume[0] not in declared_volumes:
            problems.append(f"{name} keeps {target} outside a named volume")

    diversion = ("migrate", *SERVICES)
    builds = {json.dumps([services[name].get("image"), services[name].get("build")]) for name in diversion}
    if len(builds) != 1 or not any(services[name].get("build") for name in diversion):
        problems.append("migrate and the services do not share one image built from the repository")

    if command(migrate) != ["diversion", "migrate", "--all"]:
        problems.append(f"migrate runs {command(migrate)} instead of diversion migrate --all")
    if migrate.get("restart", "no") != "no":
        problems.append(f"migrate is not one-shot (restart: {migrate.get('restart')!r})")
    if depends_on(migrate).get("postgres") != "service_healthy":
        problems.append("migrate does not wait for a healthy postgres")

    for name, service in services.items():
        if "container_name" in service:
            problems.append(f"{name} has a fixed container_name, so it cannot be scaled")
    postgres_env = environment(postgres)
    for name in SERVICES:
        problems.extend(_service_problems(name, services[name], migrate, postgres_env))
    return problems


DEFINITIONS_FILE = ROOT / "deploy" / "rabbitmq" / "definitions.json"
RABBITMQ_CONF = ROOT / "deploy" / "rabbitmq" / "20-diversion.conf"


def _broker_login_problems(name: str, uri: str) -> list[str]:
    """Each service logs in as itself, with the password the definitions file holds (ADR 0011)."""
    import base64
    import hashlib

    from kombu.utils.url import url_to_parts

    parts = url_to_parts(uri) if uri else None
    if parts is None or parts.username != name:
        return [f"{name} uses broker login {parts.username if parts else None!r}, not its own"]
    users = {user["name"]: user for user in json.loads(DEFINITIONS_FILE.read_text())["users"]}
    if name not in users:
        return [f"the definitions file has no broker login {name}"]
    stored = base64.b64decode(users[name]["password_hash"])
    if hashlib.sha256(stored[:4] + (parts.password or "").encode()).digest() != stored[4:]:
        return [f"{name}'s broker password is not the one deploy/rabbitmq/definitions.json holds"]
    return []


def broker_problems(rabbitmq: dict[str, Any]) -> list[str]:
    """The broker loads the definitions file (its logins), and no login is guest."""
    problems = []
    mounts = {str(m).split(":")[1]: str(m).split(":")[0] for m in rabbitmq.get("volumes", []) if ":" in str(m)}
    conf = next((source for target, source in mounts.items() if target.startswith("/etc/rabbitmq/conf.d/")), None)
    loaded = re.search(r"(?m)^load_definitions\s*=\s*(\S+)", RABBITMQ_CONF.read_text())
    if conf != "./deploy/rabbitmq/20-diversion.conf" or not loaded:
        problems.append("rabbitmq does not load_definitions from deploy/rabbitmq/20-diversion.conf")
    elif mounts.get(loaded.group(1)) != "./deploy/rabbitmq/definitions.json":
        problems.append("rabbitmq does not mount deploy/rabbitmq/definitions.json where load_definitions reads it")
    if "guest" in {user["name"] for user in json.loads(DEFINITIONS_FILE.read_text())["users"]}:
        problems.append("the definitions file has a guest login")
    if "guest" in (environment(rabbitmq).get("RABBITMQ_DEFAULT_USER") or ""):
        problems.append("rabbitmq's default user is guest")
    return problems


def _service_problems(
    name: str, service: dict[str, Any], migrate: dict[str, Any], postgres_env: dict[str, str | None]
) -> list[str]:
    problems: list[str] = []
    port = DEFAULT_PORTS[name]
    if command(service) != ["diversion", "serve", name]:
        problems.append(f"{name} runs {command(service)} instead of diversion serve {name}")
    if service.get("ports"):
        problems.append(f"{name} maps host ports, so a second replica cannot start")
    check = service.get("healthcheck") or {}
    if check.get("disable") or f"http://127.0.0.1:{port}/readyz" not in " ".join(
        map(str, check.get("test", []))
    ):
        problems.append(f"{name} has no healthcheck on http://127.0.0.1:{port}/readyz")
    needs = depends_on(service)
    expected = {
        "migrate": "service_completed_successfully",
        "rabbitmq": "service_healthy",
        "postgres": "service_healthy",
    }
    for dependency, condition in expected.items():
        if needs.get(dependency) != condition:
            problems.append(f"{name} does not wait for {dependency} ({condition})")

    env = environment(service)
    prefix = f"DIVERSION_{name.upper()}_"
    if env.get(f"{prefix}HTTP_HOST") != "0.0.0.0":
        problems.append(f"{name} does not listen on 0.0.0.0")
    if env.get(f"{prefix}HTTP_PORT", str(port)) != str(port):
        problems.append(f"{name} listens on {env.get(f'{prefix}HTTP_PORT')} instead of {port}")
    if "rabbitmq:5672" not in interpolate(env.get("DIVERSION_AMQP_URI") or ""):
        problems.append(f"{name} does not reach the broker at rabbitmq:5672")
    problems.extend(_broker_login_problems(name, interpolate(env.get("DIVERSION_AMQP_URI") or "")))
    if not env.get("DIVERSION_JWT_ALGORITHM") or "DIVERSION_JWT_SECRET" not in env:
        problems.append(f"{name} has no JWT settings")

    raw_url = env.get(f"{prefix}DATABASE_URL") or ""
    url = make_url(interpolate(raw_url)) if raw_url else None
    if url is None or (url.drivername, url.host, url.port) != ("postgresql+psycopg2", "postgres", 5432):
        problems.append(f"{name} has no PostgreSQL URL on postgres:5432")
    elif (url.username, url.database) != (name, name):
        problems.append(f"{name} uses login {url.username!r} on database {url.database!r}, not its own")
    else:
        password_variable = f"DIVERSION_{name.upper()}_DB_PASSWORD"
        given = raw_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        if given != postgres_env.get(password_variable):
            problems.append(f"{name}'s password is not the {password_variable} the init script receives")
        if environment(migrate).get(f"{prefix}DATABASE_URL") != raw_url:
            problems.append(f"migrate does not migrate {name} with {name}'s own URL")
    return problems


@dataclass(frozen=True)
class PsqlCall:
    variables: dict[str, str]
    sql: str


def run_init_script(script: str, env: dict[str, str], workdir: Path) -> list[PsqlCall]:
    """Run the init script as the postgres image would, with a `psql` that records its calls."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = workdir / "psql.log"
    log.write_text("")
    fake = bin_dir / "psql"
    # Stands in for the database server, which cannot run here: one JSON line per call.
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "with open(os.environ['PSQL_LOG'], 'a') as log:\n"
        "    log.write(json.dumps({'args': sys.argv[1:], 'sql': sys.stdin.read()}) + '\\n')\n"
    )
    fake.chmod(0o755)
    script_file = workdir / "init.sh"
    script_file.write_text(script)
    run_env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PSQL_LOG": str(log),
        "POSTGRES_USER": "postgres",
        **env,
    }
    subprocess.run(["bash", str(script_file)], env=run_env, check=True, timeout=30)
    calls = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        variables = dict(
            arg.removeprefix("--set=").split("=", 1) for arg in entry["args"] if arg.startswith("--set=")
        )
        calls.append(PsqlCall(variables=variables, sql=entry["sql"]))
    return calls


def init_problems(calls: list[PsqlCall], compose: dict[str, Any]) -> list[str]:
    """One database and one login per service, each login owning its database, with the password
    the service's URL uses."""
    problems: list[str] = []
    created: dict[str, PsqlCall] = {}
    for call in calls:
        sql = " ".join(call.sql.split())
        name = call.variables.get("name", "")
        if "CREATE ROLE :\"name\" LOGIN PASSWORD :'password'" not in sql:
            problems.append(f"the init script creates no login for {name or '?'}")
        if 'CREATE DATABASE :"name" OWNER :"name"' not in sql:
            problems.append(f"the init script creates no database owned by {name or '?'}")
        if call.variables.get("ON_ERROR_STOP") != "1":
            problems.append("the init script would carry on after a failed statement")
        if name in created:
            problems.append(f"the init script creates {name} twice")
        created[name] = call
    if sorted(created) != sorted(SERVICES):
        problems.append(f"the init script creates {sorted(created)} instead of {sorted(SERVICES)}")
    for name in set(created) & set(SERVICES):
        env = environment(compose["services"][name])
        url = make_url(interpolate(env.get(f"DIVERSION_{name.upper()}_DATABASE_URL") or "postgresql://x@y/z"))
        if created[name].variables.get("password") != url.password:
            problems.append(f"the init script gives {name} another password than its URL")
    return problems


def postgres_environment(compose: dict[str, Any]) -> dict[str, str]:
    env = environment(compose["services"]["postgres"])
    return {key: interpolate(value) for key, value in env.items() if value is not None}


def dockerfile_problems(text: str) -> list[str]:
    problems: list[str] = []
    lines = [line.strip() for line in text.replace("\\\n", " ").splitlines()]
    instructions = [line.split(None, 1) + [""] for line in lines if line and not line.startswith("#")]
    stages = [i for i, (keyword, *_) in enumerate(instructions) if keyword.upper() == "FROM"]
    if not stages:
        return ["the Dockerfile has no FROM"]
    for i in stages:
        image = instructions[i][1].split()[0]
        if not image.startswith("python:3.11") or not pinned(image):
            problems.append(f"base image {image!r} is not a pinned python:3.11")
    final = instructions[stages[-1] :]
    users = [rest.split()[0] for keyword, rest, *_ in final if keyword.upper() == "USER"]
    if not users or users[-1].split(":")[0] in ROOT_USERS:
        problems.append(f"the image runs as root (USER {users[-1] if users else 'not set'})")
    if not any(
        re.search(r"pip install .*-c constraints\.txt \.", rest)
        for keyword, rest, *_ in instructions
        if keyword.upper() == "RUN"
    ):
        problems.append("the project is not installed with pip install -c constraints.txt .")
    exposed = " ".join(rest for keyword, rest, *_ in final if keyword.upper() == "EXPOSE")
    if "8001-8004" not in exposed and not all(str(port) in exposed for port in DEFAULT_PORTS.values()):
        problems.append("the image does not expose 8001-8004")
    return problems


def test_compose_file_is_valid_against_the_compose_schema() -> None:
    errors = [error.message for error in compose_validator().iter_errors(load_compose())]
    assert errors == []


def test_compose_schema_rejects_a_misspelled_service_key() -> None:
    broken = load_compose()
    broken["services"]["casework"]["healtcheck"] = broken["services"]["casework"].pop("healthcheck")
    assert not compose_validator().is_valid(broken)


def test_compose_file_keeps_the_deployment_promises() -> None:
    assert compose_problems(load_compose()) == []


def test_postgres_init_creates_one_database_and_login_per_service(tmp_path: Path) -> None:
    compose = load_compose()
    calls = run_init_script(INIT_SCRIPT.read_text(), postgres_environment(compose), tmp_path)
    assert init_problems(calls, compose) == []
    assert {call.variables["name"] for call in calls} == set(SERVICES)


def test_init_script_uses_passwords_operators_set(tmp_path: Path) -> None:
    env = postgres_environment(load_compose()) | {"DIVERSION_CASEWORK_DB_PASSWORD": "s3cret-from-ops"}
    calls = run_init_script(INIT_SCRIPT.read_text(), env, tmp_path)
    assert {c.variables["name"]: c.variables["password"] for c in calls}["casework"] == "s3cret-from-ops"


def test_dockerfile_installs_pinned_tree_and_runs_as_non_root() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


def _set(service: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        compose["services"][service][key] = value

    return mutate


def _drop(service: str, key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        del compose["services"][service][key]

    return mutate


def _set_env(service: str, key: str, value: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        compose["services"][service]["environment"][key] = value

    return mutate


def _depend(service: str, dependency: str, condition: str) -> Callable[[dict[str, Any]], None]:
    def mutate(compose: dict[str, Any]) -> None:
        compose["services"][service]["depends_on"] = copy.deepcopy(compose["services"][service]["depends_on"])
        compose["services"][service]["depends_on"][dependency] = {"condition": condition}

    return mutate


COMPOSE_MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "container_name": (_set("casework", "container_name", "casework"), "casework has a fixed container_name"),
    "host ports": (_set("casework", "ports", ["8002:8002"]), "casework maps host ports"),
    "no healthcheck": (_drop("resources", "healthcheck"), "resources has no healthcheck"),
    "healthcheck on wrong port": (
        _set("intake", "healthcheck", {"test": ["CMD", "python", "-c", "http://127.0.0.1:8002/readyz"]}),
        "intake has no healthcheck",
    ),
    "own image": (_set("notifications", "image", "other:1.0"), "do not share one image"),
    "no build": (
        lambda c: [c["services"][n].pop("build") for n in ("migrate", *SERVICES)],
        "one image built",
    ),
    "migrate restarts": (_set("migrate", "restart", "on-failure"), "migrate is not one-shot"),
    "migrate command": (_set("migrate", "command", "diversion migrate intake"), "migrate runs"),
    "services start before migrations": (
        _depend("casework", "migrate", "service_started"),
        "casework does not wait for migrate",
    ),
    "services start before the broker is healthy": (
        _depend("intake", "rabbitmq", "service_started"),
        "intake does not wait for rabbitmq",
    ),
    "wrong serve command": (_set("casework", "command", ["diversion", "serve", "intake"]), "casework runs"),
    "foreign database": (
        _set_env(
            "intake",
            "DIVERSION_INTAKE_DATABASE_URL",
            "postgresql+psycopg2://intake:${DIVERSION_INTAKE_DB_PASSWORD:-intake-local}@postgres:5432/casework",
        ),
        "intake uses login 'intake' on database 'casework'",
    ),
    "shared login": (
        _set_env(
            "resources",
            "DIVERSION_RESOURCES_DATABASE_URL",
            "postgresql+psycopg2://postgres:${POSTGRES_PASSWORD:-x}@postgres:5432/resources",
        ),
        "resources uses login 'postgres'",
    ),
    "password the init script never set": (
        _set_env(
            "intake",
            "DIVERSION_INTAKE_DATABASE_URL",
            "postgresql+psycopg2://intake:other@postgres:5432/intake",
        ),
        "intake's password is not",
    ),
    "shared broker login": (
        _set_env("intake", "DIVERSION_AMQP_URI", "amqp://casework:casework-broker-local@rabbitmq:5672/"),
        "intake uses broker login 'casework'",
    ),
    "broker password not in the definitions": (
        _set_env("resources", "DIVERSION_AMQP_URI", "amqp://resources:other@rabbitmq:5672/"),
        "resources's broker password",
    ),
    "definitions not loaded": (
        _set("rabbitmq", "volumes", ["rabbitmq-data:/var/lib/rabbitmq"]),
        "does not load_definitions",
    ),
    "loopback listener": (_set_env("casework", "DIVERSION_CASEWORK_HTTP_HOST", "127.0.0.1"), "0.0.0.0"),
    "no management plugin": (_set("rabbitmq", "image", "rabbitmq:3.13.7"), "no management plugin"),
    "unpinned postgres": (_set("postgres", "image", "postgres:latest"), "postgres image 'postgres:latest'"),
    "no postgres volume": (_set("postgres", "volumes", []), "postgres keeps /var/lib/postgresql/data"),
    "missing service": (lambda c: c["services"].pop("notifications"), "missing services: notifications"),
}


@pytest.mark.parametrize("mutation", COMPOSE_MUTATIONS, ids=list(COMPOSE_MUTATIONS))
def test_checker_catches_a_broken_compose_file(mutation: str) -> None:
    mutate, expected = COMPOSE_MUTATIONS[mutation]
    compose = copy.deepcopy(load_compose())
    mutate(compose)
    problems = compose_problems(compose)
    assert any(expected in problem for problem in problems), problems


INIT_MUTATIONS: dict[str, tuple[Callable[[str], str], str]] = {
    "a service left out": (
        lambda text: re.sub(r"(?m)^create_service_database notifications .*$", "", text),
        "instead of",
    ),
    "a role that cannot log in": (lambda text: text.replace(" LOGIN ", " NOLOGIN "), "creates no login"),
    "a database owned by postgres": (lambda text: text.replace(' OWNER :"name"', ""), "no database owned"),
    "one role for everything": (
        lambda text: text.replace('--set=name="$name"', "--set=name=diversion"),
        "instead of",
    ),
}


@pytest.mark.parametrize("mutation", INIT_MUTATIONS, ids=list(INIT_MUTATIONS))
def test_checker_catches_a_broken_init_script(mutation: str, tmp_path: Path) -> None:
    mutate, expected = INIT_MUTATIONS[mutation]
    compose = load_compose()
    script = mutate(INIT_SCRIPT.read_text())
    assert script != INIT_SCRIPT.read_text()
    problems = init_problems(run_init_script(script, postgres_environment(compose), tmp_path), compose)
    assert any(expected in problem for problem in problems), problems


DOCKERFILE_MUTATIONS: dict[str, tuple[Callable[[str], str], str]] = {
    "root user": (lambda text: text.replace("USER 10001:10001", "USER root"), "runs as root"),
    "uid zero": (lambda text: text.replace("USER 10001:10001", "USER 0:0"), "runs as root"),
    "no user": (lambda text: text.replace("USER 10001:10001\n", ""), "runs as root"),
    "unpinned base": (
        lambda text: text.replace("python:3.11.13-slim-bookworm", "python:latest"),
        "not a pinned",
    ),
    "unconstrained install": (lambda text: text.replace("-c constraints.txt ", ""), "constraints.txt"),
}


@pytest.mark.parametrize("mutation", DOCKERFILE_MUTATIONS, ids=list(DOCKERFILE_MUTATIONS))
def test_checker_catches_a_broken_dockerfile(mutation: str) -> None:
    mutate, expected = DOCKERFILE_MUTATIONS[mutation]
    text = mutate(DOCKERFILE.read_text())
    assert text != DOCKERFILE.read_text()
    assert any(expected in problem for problem in dockerfile_problems(text))
