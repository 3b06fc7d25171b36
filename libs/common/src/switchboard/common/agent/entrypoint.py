"""The process around an agent service: settings checked, logging, NATS, profiles, serve until SIGTERM."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TypeVar

from pydantic import BaseModel

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


def build_models(*modules: ModuleType) -> int:
    """Build the pydantic validators and serializers of every model in `modules` now; returns how many.

    The openai and google-genai SDKs defer them (`defer_build`) to a type's first use, which would be the first
    call's: tens of milliseconds per message type before its greeting. An agent builds them before it is ready.
    """
    count = 0
    for module in modules:
        for _, model in inspect.getmembers(module, inspect.isclass):
            if issubclass(model, BaseModel) and model.__module__.startswith(module.__name__.split(".")[0]):
                model.model_rebuild(force=True)
                count += 1
    return count


async def serve_agent(
    component: str,
    provider: str,
    settings: S,
    build: BuildService[S],
    stop: asyncio.Event,
    warm_up: Callable[[], object] = lambda: None,
) -> None:
    """Run `warm_up` (readiness says "starting" meanwhile), then take calls until `stop` is set, then drain."""
    registry = new_registry()
    metrics = AgentMetrics(registry, provider)
    async with service_context(component, settings, registry) as ctx:
        await asyncio.to_thread(warm_up)
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
    warm_up: Callable[[], object] = lambda: None,
) -> None:
    """Configure logging, run `checks` (a `ConfigError` exits 2 naming the setting), then serve until SIGTERM.

    `warm_up` builds what the first call would otherwise build (see `build_models`) before the agent is ready.
    """
    configure_logging(component, settings.log_level, settings.log_format)
    for name in quiet_loggers:  # SDK chatter: keep its warnings only
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        for check in checks:
            check()
    except ConfigError as exc:
        logger.error("%s", exc.message)
        raise SystemExit(2) from exc
    run(lambda stop: serve_agent(component, provider, settings, build, stop, warm_up))
