"""A real Prometheus scrapes the running platform while it takes calls; every query of the dashboard, the alert
rules and the autoscalers is then run against it: Prometheus accepts it, every metric it reads has series, every
label it matches or groups on exists on them, and it returns samples.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from switchboard.devkit.deploy_queries import (
    GRAFANA_VARIABLES,
    Query,
    deploy_queries,
    grouping_labels,
    label_matchers,
    metric_names,
    without_threshold,
)
from switchboard.devkit.nats_exporter import start_exporter
from switchboard.devkit.nats_server import free_port
from switchboard.devkit.prometheus_server import LocalPrometheus, PrometheusError

from .conftest import Platform
from .test_calls import _converse

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
RATE_INTERVAL = "1m"
"""What Grafana's $__rate_interval stands for here: the calls of this test are all in the last minute."""
NOT_HERE = {
    "kube_deployment_status_replicas_available": "kube-state-metrics, in Kubernetes",
    "kube_statefulset_status_replicas_ready": "kube-state-metrics, in Kubernetes",
    "container_cpu_usage_seconds_total": "the kubelet's cAdvisor, in Kubernetes (compose: the cadvisor service)",
    "container_memory_working_set_bytes": "the kubelet's cAdvisor, in Kubernetes (compose: the cadvisor service)",
}
"""Metrics a query reads that no process of the local platform exports, and where they come from."""
ONLY_AFTER_TROUBLE = {
    "switchboard_call_control_calls_refused_total": "an outbound call refused before dialing, by code",
    "switchboard_call_control_twilio_api_errors_total": "a failed Twilio API request, by operation and code",
    "switchboard_call_control_webhook_signature_failures_total": "a webhook with a bad signature, by webhook",
    "switchboard_call_control_rate_limited_requests_total": "a 429",
    "switchboard_edge_streams_refused_total": "a refused stream, by reason",
    "switchboard_edge_malformed_messages_total": "a malformed Twilio message, by reason",
    "switchboard_bus_malformed_messages_total": "a malformed bus message, by kind and reason",
    "switchboard_agent_model_errors_total": "a model error, by code",
    "switchboard_agent_model_reconnects_total": "a model reconnection",
    "switchboard_nats_connection_events_total": "a NATS disconnection, reconnection or error",
    "switchboard_transcoder_dropped_frames_total": "a frame the transcoder dropped, by reason",
    "switchboard_agent_dropped_audio_total": "model audio not forwarded, by reason",
    "switchboard_webhook_deliveries_total": "a result webhook (only for profiles with a webhook URL), by event",
}
"""Labelled counters whose children appear with their first event (the label values are open-ended): a healthy
platform has no series of them. Their names and labels are checked against the code by test_deploy.py."""
IDLE_WITH_INLINE_TRANSCODING = {
    "switchboard_transcoder_frames_in_total": "frames, by direction",
    "switchboard_transcoder_frames_out_total": "frames, by direction",
    "switchboard_transcoder_frame_seconds_bucket": "conversion time, by direction",
    "switchboard_transcoder_ingest_age_seconds_bucket": "frame age, by direction",
}
"""The transcoder's per-direction series: the edge converts μ-law itself by default, so Twilio calls never reach
it (MEDIA_EDGE_TRANSCODE=service sends them through it)."""
ABSENT_HERE = {**NOT_HERE, **ONLY_AFTER_TROUBLE, **IDLE_WITH_INLINE_TRANSCODING}
EMPTY_WHEN_HEALTHY = {
    ("panel Twilio API errors (per minute)", "switchboard_call_control_status_callbacks_total"): (
        "status callbacks not applied (result stale or unknown), by status"
    ),
}
"""Queries whose series exist but which select only trouble, by label value: no samples on a healthy platform."""


MISTAKES = [
    Query("misspelt metric", "sum(rate(switchboard_edge_stream_ended_total[5m]))"),
    Query("label that does not exist", 'sum(switchboard_edge_streams_ended_total{cause="stop"})'),
    Query("grouped by a label that does not exist", "sum by (provider) (switchboard_edge_active_streams)"),
    Query("bad PromQL", "sum(rate(switchboard_edge_frames_total))"),
]
"""What the check must catch: at least one problem for each."""


def _expr(query: Query) -> str:
    return GRAFANA_VARIABLES.sub(RATE_INTERVAL, query.expr)


def _samples(prometheus: LocalPrometheus, expr: str) -> list[object]:
    result: list[object] = prometheus.api("query", query=expr)["result"]
    return result


async def _wait_for(prometheus: LocalPrometheus, expr: str, within_s: float = 30.0) -> None:
    async with asyncio.timeout(within_s):
        while True:
            if await asyncio.to_thread(_samples, prometheus, expr):
                return
            await asyncio.sleep(0.5)  # Prometheus scrapes every second


def _problems(prometheus: LocalPrometheus, queries: list[Query]) -> list[str]:
    problems = []
    for query in queries:
        expr = _expr(query)
        try:
            _samples(prometheus, expr)
        except PrometheusError as exc:
            problems.append(f"{query.where}: Prometheus refuses {expr!r}: {exc}")
            continue
        present = {name for name in metric_names(expr) if name not in ABSENT_HERE}
        # Series are looked for over the last 30 s: one missed scrape on a busy machine (the NATS exporter's
        # /varz read timing out) marks a series stale at once, and must not read as a series that does not exist.
        for name in sorted(present):
            if not _samples(prometheus, f"count(last_over_time({name}[30s]))"):
                problems.append(f"{query.where}: no series of {name}")
        for name, label in label_matchers(expr):
            if name in present and not _samples(
                prometheus, f'count(last_over_time({name}{{{label}!=""}}[30s]))'
            ):
                problems.append(f"{query.where}: {name} has no label {label!r}")
        if present:
            names = "|".join(sorted(present))
            for label in sorted(grouping_labels(expr) - {"le"}):
                if not _samples(
                    prometheus, f'count(last_over_time({{__name__=~"{names}", {label}!=""}}[30s]))'
                ):
                    problems.append(f"{query.where}: grouped by {label!r}, which none of {names} has")
        if any((query.where, name) in EMPTY_WHEN_HEALTHY for name in present):
            continue
        if present == metric_names(expr) and not _samples(prometheus, without_threshold(expr)):
            problems.append(f"{query.where}: no samples for {without_threshold(expr)!r}")
    return problems


async def test_every_dashboard_alert_and_autoscaler_query_reads_real_series(
    platform: Platform, prometheus_binary: str, tmp_path: Path
) -> None:
    exporter = await start_exporter(platform.nats_monitor, "127.0.0.1", 0)
    targets = {
        service: [f"127.0.0.1:{port}" for port in ports] for service, ports in platform.ops_ports.items()
    }
    targets["nats"] = [f"127.0.0.1:{exporter.port}"]
    prometheus = LocalPrometheus(
        prometheus_binary,
        tmp_path / "prometheus",
        targets,
        port=free_port(),
        interval_s=1.0,
        log_file=tmp_path / "prometheus.log",
    )
    await asyncio.to_thread(prometheus.start)
    try:
        replicas = sum(len(ports) for ports in targets.values())
        await _wait_for(
            prometheus, f"count(up) == {replicas}"
        )  # every target scraped once (a replica that an
        # earlier test killed is down, and its twin exports the same series)
        async with platform.http.get(f"{platform.api}/v1/calls") as unauthenticated:
            assert unauthenticated.status == 401
        calls = [
            await platform.place_call(profile) for profile in ("receptionist-openai", "receptionist-gemini")
        ]
        phones = [await platform.phone(call_id) for call_id in calls]
        await asyncio.gather(*(_converse(phone) for phone in phones))
        for call_id in calls:
            await platform.wait_for_record(call_id, "completed")
        await _wait_for(prometheus, "sum(switchboard_agent_calls_ended_total) >= 2")
        await _wait_for(
            prometheus, 'sum(switchboard_call_control_calls_ended_total{status="completed"}) >= 2'
        )
        problems = await asyncio.to_thread(_problems, prometheus, deploy_queries(ROOT))
        caught = await asyncio.to_thread(_problems, prometheus, MISTAKES)
        rules = await asyncio.to_thread(prometheus.api, "rules")
    finally:
        await asyncio.to_thread(prometheus.stop)
        await exporter.stop()
    assert not problems, "\n".join(problems)
    assert {problem.split(":", 1)[0] for problem in caught} == {query.where for query in MISTAKES}, caught
    loaded = [rule for group in rules["groups"] for rule in group["rules"] if rule["type"] == "alerting"]
    assert loaded and all(rule["health"] == "ok" for rule in loaded), [
        r for r in loaded if r["health"] != "ok"
    ]
