"""Entry point: ``switchboard-call-control``."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from fastapi import FastAPI

from switchboard.call_control.app import create_app
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.profile_files import load_profiles
from switchboard.call_control.runtime import running
from switchboard.call_control.settings import CallControlSettings, StartConfig
from switchboard.common.errors import ConfigError
from switchboard.common.profiles import Profile
from switchboard.common.runtime.lifecycle import run, service_context
from switchboard.common.runtime.logs import configure_logging
from switchboard.common.runtime.metrics import new_registry
from switchboard.common.runtime.ops_http import Health

logger = logging.getLogger(__name__)

SERVICE = "call-control"


async def serve_http(
    app: FastAPI,
    stop: asyncio.Event,
    *,
    host: str,
    port: int,
    sock: socket.socket | None = None,
    health: Health | None = None,
) -> None:
    """Serve `app` until `stop` is set (or uvicorn stops by itself), then finish the requests under way.

    With `health`, the service counts as started from here, and readiness waits for the HTTP server to listen.
    """
    config = uvicorn.Config(app, host=host, port=port, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    if health is not None:
        health.add_check("http", lambda: server.started and not server.should_exit)
        health.mark_started()
    serving = asyncio.create_task(server.serve(sockets=[sock] if sock is not None else None))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        server.should_exit = True
        await serving


async def serve(
    settings: CallControlSettings, config: StartConfig, profiles: dict[str, Profile], stop: asyncio.Event
) -> None:
    """Run call-control until `stop` is set."""
    registry = new_registry()
    metrics = CallControlMetrics(registry)
    async with service_context(SERVICE, settings, registry) as ctx:
        async with running(ctx.bus, settings, config, profiles, metrics) as control:
            logger.info(
                "profiles: %s",
                ", ".join(f"{name}@{rev}" for name, rev in sorted(control.profile_revisions.items())),
            )
            logger.info("calls API on %s:%d", settings.http_host, settings.http_port)
            await serve_http(
                create_app(control), stop, host=settings.http_host, port=settings.http_port, health=ctx.health
            )


def main() -> None:
    """Check the settings and the profiles, then serve until SIGTERM; a configuration error exits with 2."""
    settings = CallControlSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    try:
        config = settings.checked()
        profiles = load_profiles(settings.profiles_dir)
        config.check_profile_webhooks(profiles, settings.webhook_policy())
    except ConfigError as error:
        logger.error("cannot start: %s", error.message)
        raise SystemExit(2) from None
    run(lambda stop: serve(settings, config, profiles, stop))


if __name__ == "__main__":
    main()
