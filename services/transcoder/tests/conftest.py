import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.eventually import eventually
from switchboard.transcoder.metrics import TranscoderMetrics
from switchboard.transcoder.service import TranscoderService
from switchboard.transcoder.settings import TranscoderSettings

RunningTranscoder = Callable[..., AbstractAsyncContextManager[TranscoderService]]


@pytest.fixture
def transcoder(nats_url: str) -> RunningTranscoder:
    """Runs a real transcoder service, on its own NATS connection, for the duration of a block."""

    @asynccontextmanager
    async def running(**overrides: object) -> AsyncIterator[TranscoderService]:
        registry = new_registry()
        bus_metrics = BusMetrics(registry)
        nc = await connect(BusOptions(url=nats_url, name="transcoder-under-test"), bus_metrics)
        settings = TranscoderSettings(**{"instance_id": "transcoder-test", "drain_timeout_s": 0, **overrides})  # type: ignore[arg-type]
        service = TranscoderService(Bus(nc, bus_metrics), settings, TranscoderMetrics(registry))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await eventually(lambda: service.attach.in_queue_group, what="the transcoder serves")
        try:
            yield service
        finally:
            stop.set()
            await task
            await nc.drain()

    return running
