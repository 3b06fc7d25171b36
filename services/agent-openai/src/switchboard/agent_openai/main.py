"""Entry point: ``switchboard-agent-openai``."""

from __future__ import annotations

import asyncio
import logging

from switchboard.agent_openai.service import PROVIDER, build_service
from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.bus import subjects
from switchboard.common.errors import ConfigError
from switchboard.common.profiles import ProfileStore
from switchboard.common.runtime.lifecycle import run, service_context
from switchboard.common.runtime.logs import configure_logging
from switchboard.common.runtime.metrics import new_registry

SERVICE = "agent-openai"

logger = logging.getLogger(__name__)


async def serve(settings: AgentOpenAISettings, stop: asyncio.Event) -> None:
    """Take calls until `stop` is set, then drain."""
    registry = new_registry()
    metrics = AgentMetrics(registry, PROVIDER)
    async with service_context(SERVICE, settings, registry) as ctx:
        profiles = ProfileStore(await ctx.bus.js.key_value(subjects.PROFILES_BUCKET))
        service = build_service(ctx.bus, settings, profiles, metrics)
        await service.run(stop)


def main() -> None:
    """Read and check the settings, then serve until SIGTERM."""
    settings = AgentOpenAISettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    # LiveKit's plugin logs every model error and reconnection itself; keep its warnings, not its chatter.
    logging.getLogger("livekit").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        settings.api_key_value()
    except ConfigError as exc:
        logger.error("%s", exc.message)
        raise SystemExit(2) from exc
    run(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
