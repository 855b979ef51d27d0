"""The interface documents as the standards' own tools see them: the official AsyncAPI parser on
docs/asyncapi.json, Spectral's `spectral:oas` ruleset on docs/openapi/*.json, and the document's
receive operations against the `@reliable_handler` methods written in the services' code.

The tools run from tools/standards/ (`make install` runs `npm ci` there from its package-lock.json).
Each check also runs once on a document broken on purpose, so a checker that stopped looking fails here.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.messaging.asyncapi import DEFAULT_PATH as ASYNCAPI_PATH
from shared.messaging.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "standards"
OPENAPI_DOCUMENTS = sorted((ROOT / "docs" / "openapi").glob("*.json"))
SPECTRAL_SEVERITY = {0: "error", 1: "warning", 2: "information", 3: "hint"}


def _node() -> str:
    node = shutil.which("node")
    assert node, "Node.js is needed for the standards' checkers (Debian package nodejs)"
    assert (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir(), "run `make install` (npm ci in tools/standards)"
    return node


def _asyncapi_parser(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_node(), str(TOOLS / "check-asyncapi.mjs"), str(path)],
                          capture_output=True, text=True, timeout=120, cwd=TOOLS)


def _counts(result: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    """(errors, warnings) from the parser script's closing line."""
    found = re.search(r": (\d+) errors, (\d+) warnings, \d+ infos, \d+ hints$", result.stdout.strip())
    assert found, result.stdout + result.stderr
    return int(found.group(1)), int(found.group(2))


def _spectral(paths: list[Path], out: Path) -> list[dict[str, Any]]:
    spectral = TOOLS / "node_modules" / ".bin" / "spectral"
    _node()
    result = subprocess.run(
        [str(spectral), "lint", "--ruleset", str(ROOT / ".spectral.yaml"), "--format", "json", "--output",
         str(out), "--fail-severity", "hint", "--quiet", *map(str, paths)],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )
    assert out.exists(), f"spectral wrote no report (exit {result.returncode}): {result.stdout}{result.stderr}"
    findings: list[dict[str, Any]] = json.loads(out.read_text() or "[]")
    assert (result.returncode == 0) == (not findings), (result.returncode, result.stderr)
    return findings


def _show(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{Path(f['source']).name}:{f['range']['start']['line'] + 1} {SPECTRAL_SEVERITY[f['severity']]} "
        f"{f['code']} {'.'.join(map(str, f['path']))}: {f['message']}"
        for f in findings
    )


# ------------------------------------------------------------------------------------------- AsyncAPI


def test_official_asyncapi_parser_finds_no_error_and_no_warning_in_the_checked_in_document():
    result = _asyncapi_parser(ASYNCAPI_PATH)
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _counts(result) == (0, 0), result.stdout


def test_asyncapi_parser_check_rejects_delivery_mode_in_a_message_binding(tmp_path):
    document = json.loads(ASYNCAPI_PATH.read_text())
    message = next(iter(document["components"]["messages"].values()))
    message["bindings"]["amqp"]["deliveryMode"] = 2  # an operation-binding field (AMQP binding 0.3.0)
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(document))
    result = _asyncapi_parser(broken)
    assert result.returncode == 1, result.stdout
    assert "deliveryMode" in result.stdout
    assert _counts(result)[0] >= 1


def _handlers_written_in_services() -> set[tuple[str, str, str]]:
    """(service, method, event type) of every `@reliable_handler(Model)` in services/, read from the source."""
    by_model = {spec.model.__name__: spec.type for spec in CATALOG.values()}
    found = set()
    for path in sorted((ROOT / "services").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
            service = next(
                (stmt.value.value for stmt in cls.body
                 if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "name"
                                                         for t in stmt.targets)
                 and isinstance(stmt.value, ast.Constant)),
                None,
            )
            for function in (stmt for stmt in cls.body if isinstance(stmt, ast.FunctionDef)):
                for decorator in function.decorator_list:
                    if not isinstance(decorator, ast.Call):
                        continue
                    callee = decorator.func
                    called = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
                    if called != "reliable_handler":
                        continue
                    assert service, f"{path}:{function.lineno}: handler in a class without `name`"
                    model = decorator.args[0]
                    assert isinstance(model, ast.Name), f"{path}:{function.lineno}: name the event model"
                    found.add((service, function.name, by_model[model.id]))
    return found


def test_asyncapi_receive_operations_are_exactly_the_handlers_in_the_services_code():
    document = json.loads(ASYNCAPI_PATH.read_text())
    claimed = set()
    for operation in document["operations"].values():
        if operation["action"] != "receive":
            continue
        channel = document["channels"][operation["channel"]["$ref"].rsplit("/", 1)[-1]]
        service, method = operation["title"].split(".")
        claimed.add((service, method, channel["address"]))
    written = _handlers_written_in_services()
    assert len(written) >= 10  # the suite's handlers at the time of writing; the parse found them
    assert claimed == written, {"claimed, not in code": claimed - written, "in code, not claimed": written - claimed}
    # an event type nobody consumes has its publish operation and no receive operation
    consumed = {event_type for _, _, event_type in written}
    # issue 17 made every event answered (tests/unit/messaging/test_every_event_has_a_consumer.py); this line
    # asserted the opposite while case.end_approaching had no consumer
    assert "org.diversion.casework.case.end_approaching" in consumed
    for key, channel in document["channels"].items():
        receivers = [op for op in document["operations"].values()
                     if op["action"] == "receive" and op["channel"]["$ref"] == f"#/channels/{key}"]
        assert bool(receivers) == (channel["address"] in consumed), key


def test_asyncapi_amqp_bindings_sit_where_the_amqp_binding_puts_them():
    document = json.loads(ASYNCAPI_PATH.read_text())
    for message in document["components"]["messages"].values():
        assert set(message["bindings"]["amqp"]) <= {"contentEncoding", "messageType", "bindingVersion"}
    for operation in document["operations"].values():
        amqp = operation["bindings"]["amqp"]
        if operation["action"] == "send":
            assert amqp["deliveryMode"] == 2 and amqp["mandatory"] is True
        else:
            assert amqp["ack"] is True
    for channel in document["channels"].values():
        assert channel["bindings"]["amqp"]["is"] == "routingKey"


# -------------------------------------------------------------------------------------------- OpenAPI


def test_spectral_ruleset_is_spectral_oas_with_no_rule_turned_off():
    ruleset = yaml.safe_load((ROOT / ".spectral.yaml").read_text())
    assert ruleset["extends"] == ["spectral:oas"]
    assert [name for name, rule in (ruleset.get("rules") or {}).items() if rule in ("off", False)] == []


def test_spectral_finds_no_error_and_no_warning_in_the_four_openapi_documents(tmp_path):
    assert [path.stem for path in OPENAPI_DOCUMENTS] == ["casework", "intake", "notifications", "resources"]
    findings = _spectral(OPENAPI_DOCUMENTS, tmp_path / "spectral.json")
    print(_show(findings))
    assert findings == [], _show(findings)


def test_spectral_check_reports_an_undeclared_tag_and_an_unused_component(tmp_path):
    document = json.loads(OPENAPI_DOCUMENTS[0].read_text())
    operation = document["paths"]["/healthz"]["get"]
    operation["tags"] = ["nowhere-declared"]
    document["components"]["schemas"]["Orphan"] = {"type": "object"}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document, indent=2))
    codes = {finding["code"] for finding in _spectral([broken], tmp_path / "spectral.json")}
    assert {"operation-tag-defined", "oas3-unused-component"} <= codes


@pytest.mark.parametrize("path", OPENAPI_DOCUMENTS, ids=lambda path: path.stem)
def test_every_openapi_operation_has_a_description_and_a_declared_tag(path):
    document = json.loads(path.read_text())
    declared = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert all(declared.values())
    for operations in document["paths"].values():
        for operation in operations.values():
            assert operation["description"].strip()
            assert set(operation["tags"]) <= set(declared)


@pytest.mark.parametrize("path", OPENAPI_DOCUMENTS, ids=lambda path: path.stem)
def test_every_non_2xx_response_in_the_openapi_documents_is_problem_json(path):
    document = json.loads(path.read_text())
    others = [(route, method, status, sorted(response.get("content", {})))
              for route, operations in document["paths"].items()
              for method, operation in operations.items()
              for status, response in operation["responses"].items()
              if not status.startswith("2") and set(response.get("content", {})) != {"application/problem+json"}]
    assert others == []
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]
