"""The deployment files agree with the code they deploy.

These checks read the files as text and keep deploy/ (Kubernetes, Prometheus, Grafana) and docker-compose.yml
from drifting away from the services: every prefixed variable is a setting, every secret
is declared, every metric and label queried is exported, every probe hits the ops port, every subject and bucket
NATS grants exists. The real tools check the rest: test_manifests.py (kustomize, the Kubernetes and CRD schemas),
test_prometheus_rules.py (promtool), test_prometheus_live.py (a real Prometheus scraping the running platform).
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase
from pydantic_settings import BaseSettings

from switchboard.agent_gemini.settings import AgentGeminiSettings
from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.settings import CallControlSettings
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.bus import messages, subjects
from switchboard.common.runtime.metrics import BusMetrics
from switchboard.devkit.deploy_queries import deploy_queries, label_matchers, metric_names
from switchboard.devkit.dev_config import NATS_USER_OF
from switchboard.devkit.nats_authorization import SHARED_AUTHORIZATION, service_users
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.settings import MediaEdgeSettings
from switchboard.transcoder.metrics import TranscoderMetrics
from switchboard.transcoder.settings import TranscoderSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SHARED_NATS = K8S / "nats-authorization.conf"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_OVERRIDES = sorted((DEPLOY / "compose").glob("*.yml"))
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "switchboard.json"
YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml"), COMPOSE])

SETTINGS: dict[str, type[BaseSettings]] = {
    "TRANSCODER_": TranscoderSettings,
    "MEDIA_EDGE_": MediaEdgeSettings,
    "CALL_CONTROL_": CallControlSettings,
    "AGENT_OPENAI_": AgentOpenAISettings,
    "AGENT_GEMINI_": AgentGeminiSettings,
}
PREFIX_OF = {
    "transcoder": "TRANSCODER_",
    "media-edge": "MEDIA_EDGE_",
    "call-control": "CALL_CONTROL_",
    "agent-openai": "AGENT_OPENAI_",
    "agent-gemini": "AGENT_GEMINI_",
}
"""Container (Kubernetes) and service (compose) name → its settings' prefix."""

SECRET = "switchboard-secrets"
EXTERNAL_METRICS = {
    "up": "Prometheus, one per scrape target",
    "container_cpu_usage_seconds_total": "cAdvisor (kubelet; the cadvisor service of docker-compose.yml)",
    "container_memory_working_set_bytes": "cAdvisor (kubelet; the cadvisor service of docker-compose.yml)",
    "kube_deployment_status_replicas_available": "kube-state-metrics",
    "kube_statefulset_status_replicas_ready": "kube-state-metrics",
    "process_cpu_seconds_total": "prometheus_client's process collector, in every service's registry",
    "gnatsd_varz_slow_consumers": "prometheus-nats-exporter beside each NATS node; devkit's nats_exporter locally",
}
TARGET_LABELS = {"service", "instance", "job", "namespace", "pod"}
"""Labels the scrape configurations attach to every series (prometheus.yml, kubernetes-scrape.yml)."""


# --- reading the files ------------------------------------------------------------------------------------


def _documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def _manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in _documents(path)
    ]


def _workloads() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(manifest, container) for every container of every pod template."""
    for doc in _manifests():
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            yield doc, container


def _k8s_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def _compose_services(path: Path) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _documents(path)[0]["services"]
    return services


def _compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def _env_sites() -> Iterator[tuple[str, str, str, str | None]]:
    """(where, container, variable, literal value or None) for every container variable of every file."""
    for doc, container in _workloads():
        for name, entry in _k8s_env(container).items():
            yield f"{doc['kind']}/{doc['metadata']['name']}", container["name"], name, entry.get("value")
    for path in [COMPOSE, *COMPOSE_OVERRIDES]:
        for service_name, service in _compose_services(path).items():
            for name, value in _compose_env(service).items():
                yield path.name, service_name, name, value


def _prefix(variable: str) -> str | None:
    return next((prefix for prefix in SETTINGS if variable.startswith(prefix)), None)


def _secret_keys() -> set[str]:
    lines = (K8S / "secrets.env.example").read_text(encoding="utf-8").splitlines()
    return {
        line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.lstrip().startswith("#")
    }


def _ops_port(prefix: str, env: dict[str, str | None]) -> int:
    override = env.get(f"{prefix}OPS_PORT")
    return int(override) if override else int(SETTINGS[prefix].model_fields["ops_port"].default)


# --- every file parses, and the kustomization is complete --------------------------------------------------


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert _documents(path), f"{path} is empty"


def test_the_dashboard_is_json_with_unique_panel_ids_on_the_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert any(var["name"] == "datasource" for var in dashboard["templating"]["list"])
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_kustomization_lists_every_manifest_and_only_files_that_exist() -> None:
    kustomization = _documents(K8S / "kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    present = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present, f"missing: {present - listed}, not found: {listed - present}"
    for generator in kustomization["configMapGenerator"]:
        for file in generator["files"]:
            assert (K8S / file).is_file(), file
    profiles = {Path(file).name for g in kustomization["configMapGenerator"] for file in g["files"]}
    assert {path.name for path in (ROOT / "profiles").glob("*.yaml")} <= profiles, "a profile is not shipped"
    for generator in kustomization["secretGenerator"]:
        for env_file in generator["envs"]:
            assert (K8S / f"{env_file}.example").is_file(), f"{env_file}.example documents the secret"


# --- settings and secrets ------------------------------------------------------------------------------------


def test_the_settings_classes_have_the_prefixes_the_files_use() -> None:
    for prefix, settings in SETTINGS.items():
        assert settings.model_config.get("env_prefix") == prefix


def test_every_prefixed_variable_is_a_setting_of_its_service() -> None:
    unknown = [
        f"{where} {container}: {name}"
        for where, container, name, _ in _env_sites()
        if (prefix := _prefix(name))
        and name.removeprefix(prefix).lower() not in SETTINGS[prefix].model_fields
    ]
    assert not unknown, "variables no setting reads:\n  " + "\n  ".join(unknown)


def test_every_container_only_sets_its_own_services_variables() -> None:
    for where, container, name, _ in _env_sites():
        prefix = _prefix(name)
        if prefix and container in PREFIX_OF:
            assert prefix == PREFIX_OF[container], f"{where} {container}: {name}"


def test_every_literal_value_is_valid_for_its_setting() -> None:
    """Values are checked by the settings' own validators (interpolated compose values are not literals)."""
    for where, container, name, value in _env_sites():
        prefix = _prefix(name)
        if prefix is None or value is None or "${" in value:
            continue
        field = name.removeprefix(prefix).lower()
        try:
            SETTINGS[prefix].model_validate({field: value})
        except ValueError as exc:
            pytest.fail(f"{where} {container}: {name}={value!r} is refused: {exc}")


def test_every_secret_reference_names_a_declared_key_and_every_key_is_used() -> None:
    declared = _secret_keys()
    used: set[str] = set()
    for doc, container in _workloads():
        for name, entry in _k8s_env(container).items():
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            where = f"{doc['metadata']['name']}/{container['name']} {name}"
            assert ref["name"] == SECRET, f"{where}: secret {ref['name']!r}"
            assert ref["key"] in declared, f"{where}: {ref['key']} is not in secrets.env.example"
            used.add(ref["key"])
    assert declared == used, f"declared and never used: {declared - used}"


def test_the_edge_and_call_control_share_the_stream_url_and_the_secrets() -> None:
    """Twilio signs the stream URL call-control writes; the edge checks it with the same token and secret."""
    containers = {c["name"]: _k8s_env(c) for _, c in _workloads()}
    edge, control = containers["media-edge"], containers["call-control"]
    assert edge["MEDIA_EDGE_PUBLIC_STREAM_URL"]["value"] == control["CALL_CONTROL_MEDIA_STREAM_URL"]["value"]
    for setting in ("TWILIO_AUTH_TOKEN", "STREAM_SECRET"):
        assert edge[f"MEDIA_EDGE_{setting}"]["valueFrom"] == control[f"CALL_CONTROL_{setting}"]["valueFrom"]
    compose = _compose_services(COMPOSE)
    edge_env, control_env = _compose_env(compose["media-edge"]), _compose_env(compose["call-control"])
    assert edge_env["MEDIA_EDGE_PUBLIC_STREAM_URL"] == control_env["CALL_CONTROL_MEDIA_STREAM_URL"]
    for setting in ("TWILIO_AUTH_TOKEN", "STREAM_SECRET"):
        assert edge_env[f"MEDIA_EDGE_{setting}"] == control_env[f"CALL_CONTROL_{setting}"]


# --- probes, ports, shutdown -------------------------------------------------------------------------------


def test_every_readiness_probe_and_scrape_annotation_uses_the_ops_port() -> None:
    for doc, container in _workloads():
        prefix = PREFIX_OF.get(container["name"])
        if prefix is None:
            continue
        env = {name: entry.get("value") for name, entry in _k8s_env(container).items()}
        ops = _ops_port(prefix, env)
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            port = container[probe]["httpGet"]["port"]
            assert ports.get(port, port) == ops, f"{container['name']} {probe}"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        annotations = doc["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(ops)


def test_compose_health_checks_and_prometheus_targets_use_the_ops_ports() -> None:
    services = _compose_services(COMPOSE)
    ops = {name: _ops_port(PREFIX_OF[name], dict(_compose_env(services[name]))) for name in PREFIX_OF}
    for name, port in ops.items():
        assert f"127.0.0.1:{port}/readyz" in " ".join(services[name]["healthcheck"]["test"]), name
    prometheus = _documents(DEPLOY / "prometheus" / "prometheus.yml")[0]
    (job,) = [job for job in prometheus["scrape_configs"] if job["job_name"] == "switchboard"]
    targets = {config["labels"]["service"]: config["targets"] for config in job["static_configs"]}
    assert targets == {name: [f"{name}:{port}"] for name, port in ops.items()}


def test_services_get_longer_to_stop_than_their_calls_get_to_drain() -> None:
    drains = {"MEDIA_EDGE_": "drain_deadline_s", "AGENT_OPENAI_": "drain_timeout_s"}
    drains["AGENT_GEMINI_"] = drains["AGENT_OPENAI_"]
    for doc, container in _workloads():
        prefix = PREFIX_OF.get(container["name"])
        if prefix not in drains:
            continue
        field = drains[prefix]
        env = _k8s_env(container)
        entry = env.get(f"{prefix}{field.upper()}")
        drain = float(entry["value"]) if entry else float(SETTINGS[prefix].model_fields[field].default)
        grace = doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > drain + 10, f"{container['name']}: {grace} s of grace for {drain} s of drain"


def test_the_edge_drains_before_it_stops() -> None:
    (edge,) = [c for _, c in _workloads() if c["name"] == "media-edge"]
    command = edge["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    compile(command[2], "preStop", "exec")
    env = {name: entry.get("value") for name, entry in _k8s_env(edge).items()}
    port = env.get("MEDIA_EDGE_OPS_PORT") or MediaEdgeSettings.model_fields["ops_port"].default
    deadline = (
        env.get("MEDIA_EDGE_DRAIN_DEADLINE_S") or MediaEdgeSettings.model_fields["drain_deadline_s"].default
    )
    assert f"http://127.0.0.1:{port}/drain" in command[2] and "method='POST'" in command[2]
    timeout = re.search(r"timeout=(\d+)", command[2])
    assert timeout is not None and float(timeout.group(1)) > float(deadline), "/drain answers once drained"


# --- NATS users and permissions ---------------------------------------------------------------------------


def _nats_authorization() -> str:
    return (K8S / "nats-authorization.conf").read_text(encoding="utf-8")


def test_nats_conf_takes_its_users_from_the_shared_authorization_file() -> None:
    assert SHARED_AUTHORIZATION == SHARED_NATS, "the local platform's NATS reads production's file"
    conf = (K8S / "nats.conf").read_text(encoding="utf-8")
    assert 'include "nats-authorization.conf"' in conf
    assert not re.search(r"\buser:|permissions:", conf), "users are defined in nats-authorization.conf only"
    listed = re.search(r"authorization\s*\{\s*users:\s*\[([^\]]*)\]", conf)
    assert listed is not None
    assert re.findall(r"\$(\w+)", listed.group(1)) == [user.variable for user in service_users(SHARED_NATS)]


def test_the_local_platform_gives_each_service_the_nats_user_kubernetes_gives_it() -> None:
    for _, container in _workloads():
        prefix = PREFIX_OF.get(container["name"])
        if prefix is not None:
            user = _k8s_env(container)[f"{prefix}NATS_USER"]["value"]
            assert NATS_USER_OF[container["name"]] == user, container["name"]


def test_every_service_user_exists_in_nats_conf_with_the_password_the_service_gets() -> None:
    users = dict(re.findall(r"\{\s*user:\s*([\w-]+),\s*password:\s*\$(\w+)", _nats_authorization()))
    (nats,) = [c for doc, c in _workloads() if doc["metadata"]["name"] == "nats" and c["name"] == "nats"]
    server_env = _k8s_env(nats)
    for _, container in _workloads():
        prefix = PREFIX_OF.get(container["name"])
        if prefix is None:
            continue
        env = _k8s_env(container)
        user = env[f"{prefix}NATS_USER"]["value"]
        assert user in users, f"{container['name']}: NATS user {user!r} is not in nats-authorization.conf"
        server_key = server_env[users[user]]["valueFrom"]["secretKeyRef"]["key"]
        client_key = env[f"{prefix}NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"]
        assert server_key == client_key, f"{container['name']}: the server checks another password"


def test_nats_conf_grants_only_subjects_and_buckets_of_the_bus_contract() -> None:
    conf = _nats_authorization()
    controls = {cls.type_name() for cls in typing.get_args(messages.Control)}
    events = {cls.type_name() for cls in typing.get_args(messages.Event)}
    for name in re.findall(r"call\.\*\.ctl\.([\w>*]+)", conf):
        assert name in controls or name == ">", f"ctl.{name} is not a control message"
    for name in re.findall(r"call\.\*\.evt\.([\w>*]+)", conf):
        assert name in events or name == ">", f"evt.{name} is not an event"
    buckets = {subjects.CALLS_BUCKET, subjects.PROFILES_BUCKET, subjects.IDEMPOTENCY_BUCKET}
    granted = set(re.findall(r"\$KV\.(\w+)\.>", conf))
    assert granted == buckets
    assert subjects.transcoder_attach() in conf and subjects.agent_attach("*") in conf
    assert subjects.edge_attach("*") in conf


# --- metrics in the alert rules and the dashboard --------------------------------------------------------


_SOURCE = "\n".join(
    path.read_text(encoding="utf-8")
    for base in [*ROOT.glob("services/*/src"), *ROOT.glob("libs/*/src")]
    for path in base.rglob("*.py")
)


def _queries() -> list[tuple[str, str]]:
    return [(query.where, query.expr) for query in deploy_queries(ROOT)]


def _exported() -> dict[str, frozenset[str]]:
    """Every series name the services export, with its label names (from the metrics classes themselves)."""
    registry = CollectorRegistry()
    owners: list[object] = [
        BusMetrics(registry),
        AgentMetrics(registry, "openai"),
        TranscoderMetrics(registry),
        EdgeMetrics(registry),
        CallControlMetrics(registry),
    ]
    exported: dict[str, frozenset[str]] = {}
    for owner in owners:
        for metric in vars(owner).values():
            if isinstance(metric, MetricWrapperBase):
                (family,) = metric.describe()
                name = family.name + ("_total" if family.type == "counter" else "")
                exported[name] = frozenset(metric._labelnames)  # the label names the metric was declared with
    return exported


def test_the_metric_name_extraction_reads_promql() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, stage) (rate(a_seconds_bucket{x="1e-9"}[5m]))) / b > 1e-3'
    assert metric_names(expr) == {"a_seconds_bucket", "b"}
    assert list(label_matchers(expr)) == [("a_seconds_bucket", "x")]


def test_every_query_reads_metrics_the_code_exports() -> None:
    problems = []
    for where, expr in _queries():
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: no metric in {expr!r}")
        for name in names:
            if name.startswith("switchboard_"):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                if f'"{base}"' not in _SOURCE:
                    problems.append(f"{where}: {name} is not defined in the code")
            elif name not in EXTERNAL_METRICS:
                problems.append(f"{where}: {name} is neither ours nor a known exporter's")
    assert not problems, "\n".join(problems)


def test_every_label_a_query_matches_on_exists_on_its_metric() -> None:
    exported = _exported()
    problems = []
    for where, expr in _queries():
        for name, label in label_matchers(expr):
            if not name.startswith("switchboard_"):
                continue
            labels = exported.get(re.sub(r"_bucket$", "", name))
            if labels is None:
                problems.append(f"{where}: {name} belongs to no metrics class this test builds")
            elif label not in labels | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set()):
                problems.append(f"{where}: {name} has no label {label!r} (it has {sorted(labels)})")
    assert not problems, "\n".join(problems)


def test_compose_references_only_services_volumes_and_files_that_exist() -> None:
    document = _documents(COMPOSE)[0]
    services, volumes = document["services"], set(document.get("volumes", {}))
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on {dependency}"
        mode = service.get("network_mode", "")
        if mode.startswith("service:"):
            assert mode.removeprefix("service:") in services, name
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {mount}"
            elif not source.startswith("/"):  # a host path (cAdvisor's) is the host's business
                assert source in volumes, f"{name}: {mount}"
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name
    for path in COMPOSE_OVERRIDES:
        assert set(_compose_services(path)) <= set(services), f"{path.name} overrides an unknown service"
