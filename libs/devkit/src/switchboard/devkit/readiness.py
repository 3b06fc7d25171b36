"""Is each process of the local platform ready: a service's `/readyz` answers 200, an emulator accepts connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class ReadyProbe:
    """How to tell that one process is ready.

    With `path`, an HTTP GET of it on `port` must answer 200 (a service's `/readyz`); without, the port must
    accept a connection (an emulator listens once it serves). `needs_file` must exist too (a CA certificate
    the emulator writes).
    """

    name: str
    port: int
    path: str | None = None
    needs_file: Path | None = None
    host: str = "127.0.0.1"

    async def check(self) -> str | None:
        """None when ready, else why not (for the message when start-up takes too long)."""
        if self.needs_file is not None and not self.needs_file.exists():
            return f"{self.needs_file} not written yet"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 1.0)
        except (OSError, TimeoutError):
            return f"nothing listens on {self.host}:{self.port}"
        try:
            if self.path is None:
                return None
            writer.write(f"GET {self.path} HTTP/1.0\r\nHost: {self.host}\r\n\r\n".encode())
            answer = await asyncio.wait_for(reader.read(1024), 2.0)
        except (OSError, TimeoutError):
            return f"{self.path} did not answer"
        finally:
            writer.close()
        status, _, rest = answer.partition(b"\r\n")
        if status.split(b" ")[1:2] == [b"200"]:
            return None
        body = rest.partition(b"\r\n\r\n")[2].decode(errors="replace").strip()
        return body or status.decode(errors="replace")


async def wait_until_ready(
    probes: Sequence[ReadyProbe],
    *,
    within_s: float,
    give_up: Callable[[], bool] = lambda: False,
    on_slow: Callable[[list[str], float], None] | None = None,
    slow_every_s: float = 10.0,
) -> dict[str, str]:
    """Poll every probe until all are ready; returns {} then, else {name: why not} at the deadline.

    Stops early (with what is not ready) once `give_up()` is true, e.g. a child exited. `on_slow(names, seconds)`
    hears every `slow_every_s` which processes are still starting.
    """
    started = time.monotonic()
    next_note = started + slow_every_s
    waiting = list(probes)
    reasons: dict[str, str] = {}
    while True:
        results = await asyncio.gather(*(probe.check() for probe in waiting))
        reasons = {probe.name: why for probe, why in zip(waiting, results, strict=True) if why is not None}
        waiting = [probe for probe in waiting if probe.name in reasons]
        now = time.monotonic()
        if not waiting or give_up() or now - started >= within_s:
            return reasons
        if on_slow is not None and now >= next_note:
            on_slow([probe.name for probe in waiting], now - started)
            next_note = now + slow_every_s
        await asyncio.sleep(_POLL_S)
