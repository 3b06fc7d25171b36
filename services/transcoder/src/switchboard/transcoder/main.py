"""Entry point: ``switchboard-transcoder``."""

from __future__ import annotations

import asyncio
import logging

from switchboard.common.audio import warm_up
from switchboard.common.runtime.lifecycle import run, service_context
from switchboard.common.runtime.logs import configure_logging
from switchboard.common.runtime.metrics import new_registry
from switchboard.transcoder.metrics import TranscoderMetrics
from switchboard.transcoder.service import TranscoderService
from switchboard.transcoder.settings import TranscoderSettings

logger = logging.getLogger(__name__)


async def serve(settings: TranscoderSettings, stop: asyncio.Event) -> None:
    """Run the transcoder until `stop` is set."""
    registry = new_registry()
    metrics = TranscoderMetrics(registry)
    async with service_context("transcoder", settings, registry) as ctx:
        # Compile the kernels now (readiness says "starting", liveness is served), not on the first call.
        await asyncio.to_thread(warm_up)
        service = TranscoderService(ctx.bus, settings, metrics)
        await service.run(stop, on_started=ctx.health.mark_started)


def main() -> None:
    """Read the settings, then serve until SIGTERM."""
    settings = TranscoderSettings()
    configure_logging("transcoder", settings.log_level, settings.log_format)
    run(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
