"""The local platform: an embedded nats-server plus each service (and emulator) as a child process.

Child output is relayed line by line with a coloured name in front, so the logs of every process read as one
interleaved stream. Ctrl-C (or SIGTERM) stops the children with SIGTERM, the way Kubernetes would, then NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93", "95")


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """A child process: a name for its log lines, the command, and extra environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    ready_line: str | None = None


class ProcessGroup:
    """Starts children, relays their output, and stops them all."""

    def __init__(self, *, colour: bool | None = None) -> None:
        self._colour = sys.stdout.isatty() if colour is None else colour
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._relays: set[asyncio.Task[None]] = set()
        self.exited = asyncio.Event()

    async def start(self, spec: ProcessSpec) -> asyncio.subprocess.Process:
        """Start one child with the environment of this process plus `spec.env`."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        process = await asyncio.create_subprocess_exec(
            *spec.argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        self._processes[spec.name] = process
        prefix = self._prefix(spec.name, len(self._processes) - 1)
        relay = asyncio.create_task(self._relay(prefix, process))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)
        return process

    def _prefix(self, name: str, index: int) -> str:
        label = f"{name:>14} |"
        return f"\x1b[{_COLOURS[index % len(_COLOURS)]}m{label}\x1b[0m " if self._colour else label + " "

    async def _relay(self, prefix: str, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()
        code = await process.wait()
        sys.stdout.write(f"{prefix}exited with {code}\n")
        self.exited.set()

    async def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM every child, wait for them, and kill what is still running after `timeout_s`."""
        for process in self._processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self._processes.values():
            try:
                await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for relay in list(self._relays):
            with contextlib.suppress(asyncio.CancelledError):
                await relay
