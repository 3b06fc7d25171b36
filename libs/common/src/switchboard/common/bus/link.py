"""Whether this process's own NATS connection can be trusted to have delivered what others sent.

A component that judges another by its heartbeats must not take its own bus outage for the other's death:
while the connection is down nothing arrives, and just after it is back the others have not had time to beat
again. `LinkWatch.up_since()` is the time from which silence means something.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nats.aio.client import Client as NatsClient

Clock = Callable[[], float]


class LinkWatch:
    """Follows one NATS connection by polling: down, or up (continuously) since when."""

    def __init__(self, nc: NatsClient, clock: Clock = time.monotonic) -> None:
        self._nc = nc
        self._clock = clock
        self._reconnects = self._count()
        self._since: float | None = clock() if nc.is_connected else None

    def _count(self) -> int:
        return int(self._nc.stats.get("reconnects", 0))

    def up_since(self) -> float | None:
        """When the connection came up (and stayed up), on this watch's clock; None while it is down.

        A reconnect between two looks counts as coming up at the second look.
        """
        now = self._clock()
        reconnects = self._count()
        if not self._nc.is_connected:
            self._since = None
        elif self._since is None or reconnects != self._reconnects:
            self._since = now
        self._reconnects = reconnects
        return self._since
