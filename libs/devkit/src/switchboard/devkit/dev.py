"""``switchboard-dev``: the whole platform on this machine, with the provider emulators when no credentials are set."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from switchboard.devkit.dev_config import DEV_API_KEY, DevPlatform, Providers, Secrets
from switchboard.devkit.nats_server import EmbeddedNats
from switchboard.devkit.platform import ProcessGroup


def say(text: str) -> None:
    """A line of the runner's own, between the services' log lines."""
    sys.stdout.write(f"switchboard: {text}\n")
    sys.stdout.flush()


async def run_platform(state_dir: Path, nats_port: int) -> None:
    """Start NATS, the emulators and the services; stop them all on Ctrl-C or SIGTERM."""
    providers = Providers.from_environment(os.environ)
    with EmbeddedNats(port=nats_port, store_dir=state_dir / "nats", log_file=state_dir / "nats.log") as nats:
        api_key = os.environ.get("SWITCHBOARD_API_KEY", DEV_API_KEY)
        platform = DevPlatform(nats.url, state_dir, providers, keys=Secrets(api_key=api_key))
        group = ProcessGroup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        say(f"NATS at {nats.url} (JetStream in {state_dir / 'nats'})")
        for line in platform.providers.banner(platform.ports):
            say(line)
        for spec in [*platform.emulators(), *platform.services()]:
            await group.start(spec)
            if spec.name == "gemini-emulator":
                await asyncio.sleep(1.0)  # its CA file must exist before agent-gemini reads it
        say(
            f"API on http://127.0.0.1:8080 (key {os.environ.get('SWITCHBOARD_API_KEY', DEV_API_KEY)}), docs at /docs"
        )
        say("place a call: uv run switchboard-call --say 'Hi, I would like to book a table'")
        stopped = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(group.exited.wait())
        await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        exited.cancel()
        say("stopping")
        await group.stop()


def main() -> None:
    """Parse the command line and run the platform."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".dev"), help="where NATS keeps its data and logs"
    )
    parser.add_argument("--nats-port", type=int, default=4222)
    args = parser.parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run_platform(args.state_dir.resolve(), args.nats_port))


if __name__ == "__main__":
    main()
