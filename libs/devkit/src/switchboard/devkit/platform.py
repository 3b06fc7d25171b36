"""The local platform: an embedded nats-server plus each service (and emulator) as a child process.

Child output is relayed line by line with a coloured name in front, so the logs of every process read as one
interleaved stream. Each child runs in a process group of its own: Ctrl-C in the terminal reaches the runner
alone, which stops the children with SIGTERM (the way Kubernetes would) in the order it chooses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93", "95")


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """A child process: a name for its log lines, the command, and extra environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)


class ProcessGroup:
    """Starts children, relays their output, and stops them (all, or some first and the rest later)."""

    def __init__(self, *, colour: bool | None = None) -> None:
        self._colour = sys.stdout.isatty() if colour is None else colour
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._relays: dict[str, asyncio.Task[None]] = {}
        self.exited = asyncio.Event()
        """Set when a child exits, whatever the reason."""
        self.exit_codes: dict[str, int] = {}

    async def start(self, spec: ProcessSpec) -> asyncio.subprocess.Process:
        """Start one child with the environment of this process plus `spec.env`."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # A group of its own, so the terminal's Ctrl-C is the runner's to handle, not each child's
            # (`start_new_session`: uvloop, which the benchmarks run on, refuses `process_group`).
            start_new_session=True,
        )
        self._processes[spec.name] = process
        prefix = self._prefix(spec.name, len(self._processes) - 1)
        self._relays[spec.name] = asyncio.create_task(self._relay(spec.name, prefix, process))
        return process

    @property
    def names(self) -> list[str]:
        """The children started so far, in order."""
        return list(self._processes)

    def _prefix(self, name: str, index: int) -> str:
        label = f"{name:>14} |"
        return f"\x1b[{_COLOURS[index % len(_COLOURS)]}m{label}\x1b[0m " if self._colour else label + " "

    async def _relay(self, name: str, prefix: str, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()
        code = await process.wait()
        self.exit_codes[name] = code
        sys.stdout.write(f"{prefix}exited with {code}\n")
        sys.stdout.flush()
        self.exited.set()

    async def stop(self, names: Collection[str] | None = None, timeout_s: float = 20.0) -> None:
        """SIGTERM the named children (default: all) at once, wait for them, kill what runs after `timeout_s`.

        Returns once their output has been relayed to the end.
        """
        chosen = {name: p for name, p in self._processes.items() if names is None or name in names}
        for process in chosen.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        await asyncio.gather(*(self._wait_or_kill(process, timeout_s) for process in chosen.values()))
        for name in chosen:
            with contextlib.suppress(asyncio.CancelledError):
                await self._relays[name]

    def kill(self) -> None:
        """SIGKILL every child still running (a second Ctrl-C: the user does not want to wait)."""
        for process in self._processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()

    @staticmethod
    async def _wait_or_kill(process: asyncio.subprocess.Process, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
