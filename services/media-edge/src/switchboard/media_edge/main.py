"""Entry point: ``switchboard-media-edge``."""

from __future__ import annotations

import asyncio
import gc
import logging

from switchboard.common.audio import warm_up
from switchboard.common.bus import subjects
from switchboard.common.calls.store import CallStore
from switchboard.common.profiles import ProfileStore
from switchboard.common.recordings.store import RecordingStore, ensure_recordings
from switchboard.common.runtime.lifecycle import run, service_context
from switchboard.common.runtime.logs import configure_logging
from switchboard.common.runtime.metrics import new_registry
from switchboard.media_edge.drain_action import DRAIN_PATH, drain_action
from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.livekit_leg import LiveKitAccess
from switchboard.media_edge.livekit_rooms import LiveKitRooms
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.server import EdgeServer
from switchboard.media_edge.settings import MediaEdgeSettings

logger = logging.getLogger(__name__)

SERVICE = "media-edge"


async def serve(settings: MediaEdgeSettings, stop: asyncio.Event) -> None:
    """Serve Twilio media streams (and LiveKit calls when configured) until `stop` is set, then drain and stop."""
    settings.auth_token()  # fail before connecting anything when a secret is missing
    settings.stream_token_secret()
    if settings.livekit_url:
        settings.livekit_secret()
    registry = new_registry()
    async with service_context(SERVICE, settings, registry) as ctx:
        js = ctx.bus.js
        edge = MediaEdge(
            bus=ctx.bus,
            settings=settings,
            metrics=EdgeMetrics(registry),
            health=ctx.health,
            calls=CallStore(await js.key_value(subjects.CALLS_BUCKET)),
            profiles=ProfileStore(await js.key_value(subjects.PROFILES_BUCKET)),
            recordings=RecordingStore(
                await ensure_recordings(
                    js,
                    settings.recordings_bucket,
                    ttl_s=settings.recordings_retention_days * 86400,
                    replicas=settings.jetstream_replicas,
                )
            ),
        )
        server = EdgeServer(edge, host=settings.host, port=settings.port)
        ctx.ops.add_action(DRAIN_PATH, drain_action(edge), loopback_only=settings.drain_from_loopback_only)
        # Compile and build every audio conversion now (readiness says "starting" meanwhile), so that the
        # first caller of this replica does not wait for it.
        await asyncio.to_thread(warm_up)
        # Everything built so far lives as long as the process: keep it out of the collector's full passes,
        # which would otherwise stall every stream for tens of milliseconds now and then.
        gc.freeze()
        await server.start()
        rooms = None
        if settings.livekit_url:
            access = LiveKitAccess(settings.livekit_url, settings.livekit_api_key, settings.livekit_secret())
            rooms = LiveKitRooms(edge, access, capacity=settings.livekit_capacity)
            await rooms.start()
        ctx.health.add_check("http", lambda: server.running)
        ctx.health.mark_started()
        stopped = asyncio.create_task(stop.wait())
        serving = asyncio.create_task(server.wait())
        await asyncio.wait({stopped, serving}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if serving.done():
            logger.error("the HTTP server stopped on its own")
        await server.stop()
        if rooms is not None:
            await rooms.stop()
        serving.cancel()


def main() -> None:
    """Read the settings, then serve until SIGTERM (which drains first)."""
    settings = MediaEdgeSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    run(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
