"""The Kubernetes manifests through the real tools: kustomize builds the base and every overlay (no load-restrictor
flag), the result validates against the Kubernetes schemas (kubernetes-validate, strict) and the Gateway API and
KEDA resources against their CRDs' schemas, and what was built keeps the promises of the design: the public URLs
routed, WebSocket timeouts stated, the edge drained before it stops, scaling on calls per replica.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from switchboard.devkit.nats_server import nats_server_binary
from switchboard.devkit.pytest_plugin import not_tested

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
OVERLAYS = sorted(path.parent for path in (DEPLOY / "overlays").glob("*/kustomization.yaml"))
BUILDS = {"base": DEPLOY / "k8s", **{f"overlay {path.name}": path for path in OVERLAYS}}
KUBERNETES_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())
"""The oldest Kubernetes still supported upstream when this was written, and the newest the validator knows."""
CUSTOM_GROUPS = ("gateway.networking.k8s.io/", "keda.sh/")
CRD_VALIDATION = ROOT / "libs" / "devkit" / "crd-validation"
STREAM_TIMEOUT_S = 3600.0
"""The least a Media Streams WebSocket must be allowed to last: a long call."""


@pytest.fixture(scope="module")
def builds(kubectl: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """`kubectl kustomize` of the base and every overlay, on a copy of deploy/ with secrets.env filled in as the
    README says (from secrets.env.example)."""
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, copy)
    shutil.copy(copy / "k8s" / "secrets.env.example", copy / "k8s" / "secrets.env")
    built = {}
    for name, path in BUILDS.items():
        done = subprocess.run(
            [kubectl, "kustomize", str(copy / path.relative_to(DEPLOY))],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"kustomize {name}:\n{done.stderr}"
        built[name] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return built


def _of(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def _container(docs: list[dict[str, Any]], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = _of(docs, "Deployment")[name]
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return deployment, container


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in container.get("env", []) if "value" in entry}


def _duration_s(text: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, number = 0.0, ""
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit():
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        total += float(number) * units[unit]
        number, index = "", index + len(unit)
    return total


def test_there_is_an_overlay() -> None:
    assert OVERLAYS, "deploy/overlays/ shows how a site sets its values"


def test_the_shipped_profiles_are_the_repositorys_profiles() -> None:
    shipped = DEPLOY / "k8s" / "profiles"
    for profile in sorted((ROOT / "profiles").glob("*.yaml")):
        copy = shipped / profile.name
        assert copy.is_file() and copy.read_bytes() == profile.read_bytes(), (
            f"deploy/k8s/profiles/{profile.name} differs from profiles/{profile.name}: "
            f"cp profiles/{profile.name} deploy/k8s/profiles/"
        )
    assert {p.name for p in shipped.glob("*.yaml")} == {p.name for p in (ROOT / "profiles").glob("*.yaml")}


def test_every_build_has_every_service(builds: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in builds.items():
        deployments = set(_of(docs, "Deployment"))
        assert {"call-control", "media-edge", "transcoder", "agent-openai", "agent-gemini"} <= deployments, (
            name
        )
        assert all(
            doc["metadata"].get("namespace") == "switchboard" for doc in docs if doc["kind"] != "Namespace"
        )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_built_resources_validate_against_the_kubernetes_schemas(
    builds: dict[str, list[dict[str, Any]]], version: str
) -> None:
    problems = []
    for name, docs in builds.items():
        for doc in docs:
            if doc["apiVersion"].startswith(CUSTOM_GROUPS):
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = "/".join(str(part) for part in exc.path)
                problems.append(f"{name} {doc['kind']}/{doc['metadata']['name']} at {where}: {exc.message}")
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def crd_validator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """validate.mjs with its npm packages (the Gateway API and KEDA models) installed next to it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        not_tested("the CRD schemas: node and npm are not installed")
    work = tmp_path_factory.mktemp("crd-validation")
    for name in ("package.json", "package-lock.json", "validate.mjs"):
        shutil.copy(CRD_VALIDATION / name, work / name)
    done = subprocess.run(
        [str(npm), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        not_tested(f"the CRD schemas: npm ci failed: {done.stderr[-500:]}")
    return work / "validate.mjs"


def test_the_gateway_and_keda_resources_validate_against_their_crds(
    builds: dict[str, list[dict[str, Any]]], crd_validator: Path
) -> None:
    for name, docs in builds.items():
        custom = [doc for doc in docs if doc["apiVersion"].startswith(CUSTOM_GROUPS)]
        assert {doc["kind"] for doc in custom} == {"Gateway", "HTTPRoute", "ScaledObject"}, name
        done = subprocess.run(
            ["node", str(crd_validator)],
            input=json.dumps(custom),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{name}:\n{done.stdout}{done.stderr}"


def test_the_routes_serve_the_public_urls_through_the_gateway_with_tls(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    for name, docs in builds.items():
        _, edge = _container(docs, "media-edge")
        _, control = _container(docs, "call-control")
        stream = urlsplit(_env(edge)["MEDIA_EDGE_PUBLIC_STREAM_URL"])
        base = urlsplit(_env(control)["CALL_CONTROL_PUBLIC_BASE_URL"])
        assert _env(control)["CALL_CONTROL_MEDIA_STREAM_URL"] == stream.geturl(), name
        routes, (gateway,) = _of(docs, "HTTPRoute"), _of(docs, "Gateway").values()
        listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
        services = _of(docs, "Service")
        for service, url in (("media-edge", stream), ("call-control", base)):
            route = routes[service]["spec"]
            assert route["hostnames"] == [url.hostname], f"{name} {service}"
            (parent,) = route["parentRefs"]
            listener = listeners[parent["sectionName"]]
            assert parent["name"] == gateway["metadata"]["name"]
            assert listener["hostname"] == url.hostname, f"{name} {service}: the listener serves another host"
            assert listener["protocol"] == "HTTPS" and listener["tls"]["mode"] == "Terminate"
            ports = {port["port"] for port in services[service]["spec"]["ports"]}
            for rule in route["rules"]:
                for backend in rule["backendRefs"]:
                    assert backend["name"] == service and backend["port"] in ports, f"{name} {service}"
        (rule,) = routes["media-edge"]["spec"]["rules"]
        assert rule["matches"] == [{"path": {"type": "Exact", "value": stream.path}}], "only the stream path"
        for timeout in ("request", "backendRequest"):
            assert _duration_s(rule["timeouts"][timeout]) >= STREAM_TIMEOUT_S, f"{name}: {timeout} timeout"
        http = [p for p in services["media-edge"]["spec"]["ports"] if p["name"] == "http"]
        assert http[0]["appProtocol"] == "kubernetes.io/ws", (
            "the gateway is told the backend speaks WebSocket"
        )


def test_nothing_is_routed_through_ingress_nginx(builds: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in builds.items():
        assert not _of(docs, "Ingress"), f"{name}: ingress-nginx is retired; routes are HTTPRoutes"


def test_the_edge_and_the_agents_drain_within_their_grace_period(
    builds: dict[str, list[dict[str, Any]]],
) -> None:
    drains = {
        "media-edge": "MEDIA_EDGE_DRAIN_DEADLINE_S",
        "agent-openai": "AGENT_OPENAI_DRAIN_TIMEOUT_S",
        "agent-gemini": "AGENT_GEMINI_DRAIN_TIMEOUT_S",
    }
    for name, docs in builds.items():
        for service, variable in drains.items():
            deployment, container = _container(docs, service)
            drain = float(_env(container)[variable])
            grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            assert grace > drain + 10, f"{name} {service}: {grace} s of grace for {drain} s of drain"
            strategy = deployment["spec"]["strategy"]["rollingUpdate"]
            assert strategy["maxUnavailable"] == 0, f"{name} {service}: a new replica first"
        _, edge = _container(docs, "media-edge")
        hook = " ".join(edge["lifecycle"]["preStop"]["exec"]["command"])
        port = next(
            p["containerPort"] for p in edge["ports"] if p["name"] == "ops"
        )  # /drain is on the ops port only
        assert f"http://127.0.0.1:{port}/drain" in hook and "method='POST'" in hook, name
        budgets = _of(docs, "PodDisruptionBudget")
        assert budgets["media-edge"]["spec"]["maxUnavailable"] == 1


def test_the_edge_and_the_agents_scale_on_calls_per_replica(builds: dict[str, list[dict[str, Any]]]) -> None:
    targets = {
        "media-edge": "switchboard_edge_active_streams",
        "agent-openai": "switchboard_agent_active_calls",
        "agent-gemini": "switchboard_agent_active_calls",
    }
    for name, docs in builds.items():
        scaled = _of(docs, "ScaledObject")
        autoscalers = _of(docs, "HorizontalPodAutoscaler")
        for service, metric in targets.items():
            spec = scaled[service]["spec"]
            assert spec["scaleTargetRef"]["name"] == service
            assert service not in autoscalers, f"{name}: KEDA's HPA and another would fight over {service}"
            prometheus = [t for t in spec["triggers"] if t["type"] == "prometheus"]
            assert prometheus and prometheus[0]["metricType"] == "AverageValue", (
                f"{name} {service}: per replica"
            )
            assert metric in prometheus[0]["metadata"]["query"], f"{name} {service}"
            assert float(prometheus[0]["metadata"]["threshold"]) > 0
            behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
            assert behavior["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 900}], (
                "one drain at a time"
            )
            _, container = _container(docs, service)
            capacity = _env(container).get(f"{service.upper().replace('-', '_')}_CAPACITY")
            if capacity is not None:
                assert float(prometheus[0]["metadata"]["threshold"]) < float(capacity), (
                    "scale before they fill"
                )


def test_the_nats_config_map_ships_nats_conf_with_the_files_it_includes_and_they_parse(
    builds: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    for name, docs in builds.items():
        (nats,) = [doc for doc in docs if doc["kind"] == "StatefulSet" and doc["metadata"]["name"] == "nats"]
        (volume,) = [v for v in nats["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
        files = _of(docs, "ConfigMap")[volume["configMap"]["name"]]["data"]
        included = re.findall(r'^\s*include\s+"([^"]+)"', files["nats.conf"], re.MULTILINE)
        assert included and set(included) <= set(files), f"{name}: nats.conf includes {included}"
        mounted = tmp_path / name.replace(" ", "-")
        mounted.mkdir()
        for file, text in files.items():
            (mounted / file).write_text(text, encoding="utf-8")
        passwords = set(re.findall(r"\$(NATS_PASSWORD_\w+)", "\n".join(files.values())))
        env = {"POD_NAME": "nats-0", **dict.fromkeys(passwords, "p0123456789abcdef")}
        done = subprocess.run(
            [nats_server_binary(), "-t", "-c", str(mounted / "nats.conf")],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"
