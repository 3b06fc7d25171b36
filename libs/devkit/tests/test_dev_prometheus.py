"""`make dev PROMETHEUS=1`'s Prometheus: every service and NATS as targets, the alert rules loaded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from switchboard.devkit.dev_config import DevPlatform, Ports
from switchboard.devkit.dev_prometheus import dev_prometheus
from switchboard.devkit.nats_server import EmbeddedNats, free_port
from switchboard.devkit.prometheus_server import LocalPrometheus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_it_scrapes_nats_targets_every_service_and_loads_the_alert_rules(
    prometheus_binary: str, tmp_path: Path
) -> None:
    said: list[str] = []
    port = free_port()
    with EmbeddedNats(monitor_port=free_port()) as nats:
        assert nats.monitor_url is not None
        platform = DevPlatform(nats.url, tmp_path, ports=Ports.free())
        async with dev_prometheus(platform, nats.monitor_url, tmp_path, port, said.append) as banner:
            assert said == [] and banner and f"http://127.0.0.1:{port}" in banner[0]
            prometheus = LocalPrometheus(prometheus_binary, tmp_path / "unused", {}, port=port)
            async with asyncio.timeout(60):
                while True:
                    nats_up = await asyncio.to_thread(
                        prometheus.api, "query", query='up{service="nats"} == 1'
                    )
                    if nats_up["result"]:
                        break
                    await asyncio.sleep(0.5)
            varz = await asyncio.to_thread(prometheus.api, "query", query="gnatsd_varz_connections")
            assert varz["result"], "NATS's /varz reaches Prometheus through the exporter"
            targets = await asyncio.to_thread(prometheus.api, "targets")
            services = {target["labels"]["service"] for target in targets["activeTargets"]}
            assert services == {
                "call-control",
                "media-edge",
                "transcoder",
                "agent-openai",
                "agent-gemini",
                "nats",
            }
            rules = await asyncio.to_thread(prometheus.api, "rules")
            alerts = [
                rule for group in rules["groups"] for rule in group["rules"] if rule["type"] == "alerting"
            ]
            assert len(alerts) > 20 and all(rule["health"] != "err" for rule in alerts)
