"""``switchboard-dev``: the whole platform on this machine, with the provider emulators when no credentials are set."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import signal
import sys
from pathlib import Path

from switchboard.devkit.nats_server import EmbeddedNats
from switchboard.devkit.platform import ProcessGroup, ProcessSpec

SERVICES = (("transcoder", "switchboard.transcoder.main"),)


def say(text: str) -> None:
    """A line of the runner's own, between the services' log lines."""
    sys.stdout.write(f"switchboard: {text}\n")
    sys.stdout.flush()


def available_services() -> list[ProcessSpec]:
    """Every service installed in this environment, as a child process."""
    specs = []
    for name, module in SERVICES:
        if importlib.util.find_spec(module.rsplit(".", 1)[0]) is not None:
            specs.append(ProcessSpec(name, [sys.executable, "-m", module]))
    return specs


async def run_platform(state_dir: Path, nats_port: int) -> None:
    """Start NATS and the services; stop them all on Ctrl-C or SIGTERM."""
    with EmbeddedNats(port=nats_port, store_dir=state_dir / "nats", log_file=state_dir / "nats.log") as nats:
        env = {"SWITCHBOARD_LOG_FORMAT": "console"}
        group = ProcessGroup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        say(f"NATS at {nats.url} (JetStream in {state_dir / 'nats'})")
        for spec in available_services():
            prefix = spec.name.upper().replace("-", "_")
            await group.start(
                ProcessSpec(
                    spec.name,
                    spec.argv,
                    {**env, f"{prefix}_NATS_URL": nats.url, f"{prefix}_LOG_FORMAT": "console"},
                )
            )
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
    asyncio.run(run_platform(args.state_dir, args.nats_port))


if __name__ == "__main__":
    main()
