"""`make dev PROMETHEUS=1`: a real Prometheus beside the local platform.

It scrapes every service and NATS, with the project's alert rules loaded (Debian's package, installed with
apt-get when missing).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from switchboard.devkit.debian_tools import PROMETHEUS, ToolUnavailable, ensure
from switchboard.devkit.dev_config import DevPlatform
from switchboard.devkit.nats_exporter import start_exporter
from switchboard.devkit.prometheus_server import ALERT_RULES, LocalPrometheus

SCRAPE_INTERVAL_S = 5.0


def dev_targets(platform: DevPlatform, nats_exporter_port: int) -> dict[str, list[str]]:
    """Each service's ops port and the NATS exporter, by the `service` label the dashboard and alerts use."""
    host, ports = platform.probe_host, platform.ports
    return {
        "call-control": [f"{host}:{ports.call_control_ops}"],
        "media-edge": [f"{host}:{ports.edge_ops}"],
        "transcoder": [f"{host}:{ports.transcoder_ops}"],
        "agent-openai": [f"{host}:{ports.agent_openai_ops}"],
        "agent-gemini": [f"{host}:{ports.agent_gemini_ops}"],
        "nats": [f"127.0.0.1:{nats_exporter_port}"],
    }


@contextlib.asynccontextmanager
async def dev_prometheus(
    platform: DevPlatform, nats_monitor_url: str, state_dir: Path, port: int, say: Callable[[str], None]
) -> AsyncIterator[list[str]]:
    """Run Prometheus (and the NATS exporter) for the block; yields the banner's lines about it.

    Where Prometheus cannot be installed or started, says why and yields no lines: the platform runs without it.
    """
    try:
        binary = await asyncio.to_thread(ensure, PROMETHEUS)
    except ToolUnavailable as exc:
        say(f"Prometheus not started: {exc}")
        yield []
        return
    exporter = await start_exporter(nats_monitor_url, "127.0.0.1", 0)
    prometheus = LocalPrometheus(
        binary,
        state_dir / "prometheus",
        dev_targets(platform, exporter.port),
        port=port,
        interval_s=SCRAPE_INTERVAL_S,
        log_file=state_dir / "prometheus.log",
    )
    try:
        await asyncio.to_thread(prometheus.start)
    except (RuntimeError, TimeoutError) as exc:
        say(f"Prometheus not started: {exc}")
        await exporter.stop()
        yield []
        return
    try:
        yield [
            f"  Prometheus   {prometheus.url}  (targets: /targets, alerts: /alerts, rules: {ALERT_RULES.name};"
            f" log {state_dir / 'prometheus.log'})"
        ]
    finally:
        await asyncio.to_thread(prometheus.stop)
        await exporter.stop()
