"""``switchboard-dev``: the whole platform on this machine, with the provider emulators when no credentials are set.

It starts NATS, the emulators and the five services, polls each one until it answers ready, then prints one
banner (URLs, the demo command, which providers are emulated and with which voice). Ctrl-C stops the services
first (they drain their calls for `DRAIN_S` at most), then the emulators, then NATS; a second Ctrl-C kills
what is left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from switchboard.devkit.dev_banner import ready_banner
from switchboard.devkit.dev_config import DEV_API_KEY, DevPlatform, Ports, Providers, Secrets
from switchboard.devkit.dev_prometheus import dev_prometheus
from switchboard.devkit.nats_authorization import NatsAuthorization
from switchboard.devkit.nats_server import EmbeddedNats, free_port
from switchboard.devkit.platform import ProcessGroup
from switchboard.devkit.readiness import wait_until_ready

#: How long a service may go on with its calls after Ctrl-C: the whole platform stops within ~2 s.
DRAIN_S = 0.5
#: A child still running this long after SIGTERM is killed.
STOP_TIMEOUT_S = 5.0
#: A signal this long after the first one is a second Ctrl-C: kill what is left.
SECOND_SIGNAL_AFTER_S = 0.5


def say(text: str) -> None:
    """A line of the runner's own, between the services' log lines."""
    sys.stdout.write(f"switchboard: {text}\n")
    sys.stdout.flush()


@dataclass(frozen=True, slots=True)
class DevOptions:
    """The command line of `switchboard-dev`."""

    state_dir: Path
    nats_port: int = 4222
    host: str = "127.0.0.1"
    free_ports: bool = False
    ready_within_s: float = 180.0
    prometheus_port: int | None = None
    """Where a local Prometheus listens (`--prometheus`); None: no Prometheus."""


async def run_platform(options: DevOptions) -> int:
    """Run the platform until Ctrl-C or SIGTERM (exit status 0) or until a process fails (1)."""
    started = time.monotonic()
    providers = Providers.from_environment(os.environ)
    ports = Ports.free() if options.free_ports else Ports()
    nats_port = free_port() if options.free_ports else options.nats_port
    api_key = os.environ.get("SWITCHBOARD_API_KEY", DEV_API_KEY)
    group = ProcessGroup()
    stop = asyncio.Event()

    first_signal: list[float] = []

    def on_signal() -> None:
        # Ctrl-C under `make dev` arrives more than once (the terminal signals make, uv and this process, and uv
        # passes it on): only a second press, a moment later, means "do not wait".
        now = time.monotonic()
        if first_signal and now - first_signal[0] > SECOND_SIGNAL_AFTER_S:
            say("killing what is left")
            group.kill()
        first_signal[:1] = first_signal[:1] or [now]
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    store = options.state_dir / "nats"
    monitor = (free_port() if options.free_ports else 8222) if options.prometheus_port is not None else None
    with EmbeddedNats(
        port=nats_port,
        store_dir=store,
        log_file=options.state_dir / "nats.log",
        monitor_port=monitor,
        authorization=NatsAuthorization.random(),
    ) as nats:
        assert nats.authorization is not None
        platform = DevPlatform(
            nats.address,
            options.state_dir,
            providers,
            ports=ports,
            keys=Secrets(api_key=api_key),
            bind_host=options.host,
            drain_s=DRAIN_S,
            nats_passwords=nats.authorization.service_passwords,
            nats_tools_url=nats.url,
        )
        emulators = [spec.name for spec in platform.emulators()]
        say(
            f"NATS at {nats.address} (JetStream in {store}); starting {len(emulators)} emulators and 5 services: "
            "READY follows once every one answers (10-30 s)"
        )
        try:
            code = await _serve(platform, group, stop, options, api_key, started, nats)
        finally:
            say("stopping the services")
            await group.stop([name for name in group.names if name not in emulators], STOP_TIMEOUT_S)
            await group.stop(emulators, STOP_TIMEOUT_S)
    say("NATS stopped")
    return code


async def _serve(
    platform: DevPlatform,
    group: ProcessGroup,
    stop: asyncio.Event,
    options: DevOptions,
    api_key: str,
    started: float,
    nats: EmbeddedNats,
) -> int:
    def give_up() -> bool:
        return stop.is_set() or group.exited.is_set()

    def still_starting(names: list[str], seconds: float) -> None:
        say(f"still starting after {seconds:.0f} s: {', '.join(names)}")

    for spec in platform.emulators():
        await group.start(spec)
    for spec in platform.services():
        if spec.name == "agent-gemini" and "gemini-emulator" in group.names:
            # agent-gemini reads the emulator's CA certificate at start: wait for the emulator to write it.
            probes = platform.ready_probes(["gemini-emulator"])
            if await wait_until_ready(probes, within_s=options.ready_within_s, give_up=give_up):
                return _failed(group, stop, "the Gemini emulator did not start")
        await group.start(spec)
    not_ready = await wait_until_ready(
        platform.ready_probes(group.names),
        within_s=options.ready_within_s,
        give_up=give_up,
        on_slow=still_starting,
    )
    if not_ready:
        details = "; ".join(f"{name}: {why}" for name, why in not_ready.items())
        return _failed(group, stop, f"not ready after {time.monotonic() - started:.0f} s ({details})")
    async with _prometheus(platform, options, nats.monitor_url) as extra:
        banner = ready_banner(platform, api_key, time.monotonic() - started)
        sys.stdout.write("\n".join([*banner[:2], *extra, *banner[2:]]) + "\n")
        sys.stdout.flush()
        stopped = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(group.exited.wait())
        await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        exited.cancel()
    return _failed(group, stop, "the platform cannot go on without it")


def _prometheus(
    platform: DevPlatform, options: DevOptions, nats_monitor: str | None
) -> contextlib.AbstractAsyncContextManager[list[str]]:
    """A local Prometheus when asked for (banner lines about it), else nothing."""
    if options.prometheus_port is None or nats_monitor is None:
        return contextlib.nullcontext([])
    return dev_prometheus(platform, nats_monitor, options.state_dir, options.prometheus_port, say)


def _failed(group: ProcessGroup, stop: asyncio.Event, what: str) -> int:
    """0 when the user stopped the platform, else 1 after saying what went wrong."""
    if stop.is_set() and not group.exited.is_set():
        return 0
    for name, code in group.exit_codes.items():
        say(f"{name} exited with {code}: its last lines are above")
    say(what)
    return 1


def main() -> None:
    """Parse the command line and run the platform."""
    parser = argparse.ArgumentParser(prog="switchboard-dev", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".dev"), help="where NATS keeps its data and logs"
    )
    parser.add_argument("--nats-port", type=int, default=4222)
    parser.add_argument(
        "--host",
        default=os.environ.get("SWITCHBOARD_DEV_HOST", "127.0.0.1"),
        help="where the API, the edge and the ops ports listen (0.0.0.0: every interface); "
        "default SWITCHBOARD_DEV_HOST or 127.0.0.1",
    )
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="free ports instead of the fixed ones (beside another platform)",
    )
    parser.add_argument(
        "--ready-within", type=float, default=180.0, help="seconds every process has to answer ready"
    )
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="also run a real Prometheus (Debian's package, installed when missing) scraping every service "
        "and NATS, with deploy/prometheus/alerts.yml loaded (make dev PROMETHEUS=1)",
    )
    parser.add_argument("--prometheus-port", type=int, default=9090)
    args = parser.parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    options = DevOptions(
        state_dir=args.state_dir.resolve(),
        nats_port=args.nats_port,
        host=args.host,
        free_ports=args.free_ports,
        ready_within_s=args.ready_within,
        prometheus_port=(free_port() if args.free_ports else args.prometheus_port)
        if args.prometheus
        else None,
    )
    sys.exit(asyncio.run(run_platform(options)))


if __name__ == "__main__":
    main()
