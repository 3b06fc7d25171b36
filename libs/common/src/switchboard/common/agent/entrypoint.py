"""The process around an agent service: settings checked, logging, NATS, profiles, serve until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.service import AgentService, AgentSettings
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.errors import ConfigError
from switchboard.common.profiles import ProfileStore
from switchboard.common.runtime.lifecycle import run, service_context
from switchboard.common.runtime.logs import configure_logging
from switchboard.common.runtime.metrics import new_registry

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=AgentSettings)
BuildService = Callable[[Bus, S, ProfileStore, AgentMetrics], AgentService]


async def serve_agent(
    component: str, provider: str, settings: S, build: BuildService[S], stop: asyncio.Event
) -> None:
    """Take calls until `stop` is set, then drain."""
    registry = new_registry()
    metrics = AgentMetrics(registry, provider)
    async with service_context(component, settings, registry) as ctx:
        profiles = ProfileStore(await ctx.bus.js.key_value(subjects.PROFILES_BUCKET))
        await build(ctx.bus, settings, profiles, metrics).run(stop, on_started=ctx.health.mark_started)


def run_agent(
    component: str,
    provider: str,
    settings: S,
    build: BuildService[S],
    *,
    checks: Iterable[Callable[[], object]] = (),
    quiet_loggers: Iterable[str] = (),
) -> None:
    """Configure logging, run `checks` (a `ConfigError` exits 2 naming the setting), then serve until SIGTERM."""
    configure_logging(component, settings.log_level, settings.log_format)
    for name in quiet_loggers:  # SDK chatter: keep its warnings only
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        for check in checks:
            check()
    except ConfigError as exc:
        logger.error("%s", exc.message)
        raise SystemExit(2) from exc
    run(lambda stop: serve_agent(component, provider, settings, build, stop))
