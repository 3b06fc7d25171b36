"""Running a service: uvloop, SIGTERM/SIGINT → a stop event, and the connection every service opens."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import uvloop
from prometheus_client import CollectorRegistry

from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import StreamLimits, connect, ensure_jetstream
from switchboard.common.runtime.metrics import BusMetrics
from switchboard.common.runtime.ops_http import Health, OpsServer
from switchboard.common.runtime.settings import ServiceSettings

logger = logging.getLogger(__name__)


def run(entry: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `entry(stop)` on uvloop; SIGTERM and SIGINT set `stop`, and `entry` returns once it has drained."""

    async def wrapper() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await entry(stop)

    uvloop.run(wrapper())
    # Everything is closed and drained: the process only has to end. Without this, the collection at interpreter
    # exit walks the whole heap (numba's and the SDKs' objects among it) for seconds on a busy machine.
    gc.freeze()


@dataclass(slots=True)
class ServiceContext:
    """What a running service holds: its bus, metrics registry and health."""

    bus: Bus
    registry: CollectorRegistry
    health: Health
    ops: OpsServer


@contextlib.asynccontextmanager
async def service_context(
    service: str, settings: ServiceSettings, registry: CollectorRegistry, *, setup_jetstream: bool = True
) -> AsyncIterator[ServiceContext]:
    """Connect to NATS, ensure the durable resources, serve the ops endpoints; drain and close on exit."""
    health = Health()
    bus_metrics = BusMetrics(registry)
    nc = await connect(settings.bus_options(service), bus_metrics)
    health.add_check("nats", lambda: nc.is_connected)
    ops = OpsServer(registry, health, settings.ops_host, settings.ops_port)
    try:
        if setup_jetstream:
            await ensure_jetstream(nc.jetstream(), StreamLimits(replicas=settings.jetstream_replicas))
        await ops.start()
        logger.info("%s %s serving (ops on :%d)", service, settings.instance_id, ops.port)
        yield ServiceContext(bus=Bus(nc, bus_metrics), registry=registry, health=health, ops=ops)
    finally:
        health.draining = True
        await ops.stop()
        if not nc.is_closed:
            try:
                await nc.drain()
            except Exception as exc:  # NATS already gone: nothing left to flush, close what remains
                logger.warning("draining the NATS connection failed (%s); closing it", exc)
                await nc.close()
        logger.info("%s %s stopped", service, settings.instance_id)
