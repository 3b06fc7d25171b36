"""NATS's monitoring endpoint (`/varz`, JSON) as Prometheus metrics, for the local platform's Prometheus.

The names and the `server_id` label are those of prometheus-nats-exporter (`-varz`), the exporter a Kubernetes
deployment runs beside each NATS node (deploy/k8s/nats.yaml), so one query serves both.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard.common.runtime.ops_http import Health, OpsServer

VARZ_FIELDS = {
    "connections": "Clients connected",
    "subscriptions": "Subscriptions",
    "slow_consumers": "Clients disconnected as slow consumers since the start",
    "in_msgs": "Messages received since the start",
    "out_msgs": "Messages sent since the start",
    "in_bytes": "Bytes received since the start",
    "out_bytes": "Bytes sent since the start",
    "mem": "Resident memory in bytes",
    "cpu": "CPU use in percent of one core",
}


class NatsVarzCollector(Collector):
    """Reads `/varz` of one nats-server at each scrape; a server that does not answer exports nothing."""

    def __init__(self, monitor_url: str, timeout_s: float = 1.0) -> None:
        self._url = monitor_url.rstrip("/") + "/varz"
        self._timeout_s = timeout_s

    def collect(self) -> Iterator[Metric]:
        """One gauge per /varz field, labelled with the server's id."""
        try:
            with urllib.request.urlopen(self._url, timeout=self._timeout_s) as response:
                varz = json.load(response)
        except (OSError, ValueError):
            return
        for field, documentation in VARZ_FIELDS.items():
            family = GaugeMetricFamily(f"gnatsd_varz_{field}", documentation, labels=["server_id"])
            family.add_metric([str(varz.get("server_id", ""))], float(varz.get(field, 0)))
            yield family


async def start_exporter(monitor_url: str, host: str, port: int) -> OpsServer:
    """Serve the metrics of the nats-server at `monitor_url` on `host:port` /metrics; the caller stops it."""
    registry = CollectorRegistry()
    registry.register(NatsVarzCollector(monitor_url))
    health = Health()
    health.mark_started()
    server = OpsServer(registry, health, host, port)
    await server.start()
    return server
