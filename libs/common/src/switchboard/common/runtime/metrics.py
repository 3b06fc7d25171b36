"""Prometheus metrics: every service builds its metrics on a registry made in `main()`.

Histograms are in seconds, counters end in `_total`, and no label ever holds a call id.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

# Buckets for the platform's own latencies: 50 µs to 2.5 s.
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
# Buckets for conversational latencies (model answers, time to first audio): 50 ms to 10 s.
TURN_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


def new_registry(*, process: bool = True) -> CollectorRegistry:
    """A registry of one service's metrics (never the process-global default one).

    With `process`, it also reports the process's CPU, memory and file descriptors, the Python version and the
    garbage collector, as the default registry would.

    Counters, histograms and summaries export no `_created` series (a Unix timestamp per child, which reads like a
    count in a metric browser and that Prometheus 2 stores as one more series): the switch is the client
    library's and process-wide, so it is thrown here, when a service builds its registry at start.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    registry = CollectorRegistry(auto_describe=True)
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        registry.register(GC_COLLECTOR)
    return registry


class BusMetrics:
    """What every service counts about its NATS connection and the messages it could not read."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connection_events = Counter(
            "switchboard_nats_connection_events_total",
            "NATS connection events by kind (disconnected, reconnected, error, closed)",
            ["event"],
            registry=registry,
        )
        self.connected = Gauge(
            "switchboard_nats_connected", "1 while the NATS connection is up", registry=registry
        )
        self.malformed = Counter(
            "switchboard_bus_malformed_messages_total",
            "Bus messages that could not be decoded, by kind and reason",
            ["kind", "reason"],
            registry=registry,
        )
        self.hop_latency = Histogram(
            "switchboard_platform_latency_seconds",
            "Time from a frame's ingest at the edge (or creation by the agent) to this stage, by stage",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
