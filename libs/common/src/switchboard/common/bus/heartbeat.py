"""Per-call heartbeats, so another component notices when the one serving a call is gone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import Heartbeat

logger = logging.getLogger(__name__)


def _no_epoch(_call_id: str) -> int:
    return 0


async def publish_heartbeats(
    bus: Bus,
    component: str,
    instance: str,
    calls: Callable[[], Iterable[str]],
    interval_s: float = 1.0,
    epoch_of: Callable[[str], int] = _no_epoch,
) -> None:
    """Publish ``ctl.heartbeat`` for every call `calls()` names, every `interval_s`, until cancelled.

    `epoch_of(call_id)` is the agent epoch the heartbeat carries (see `Heartbeat`).
    """
    while True:
        for call_id in list(calls()):
            try:
                heartbeat = Heartbeat(component=component, instance=instance, epoch=epoch_of(call_id))
                await bus.publish_control(call_id, heartbeat)
            except Exception:
                logger.exception("heartbeat failed", extra={"call_id": call_id})
        await asyncio.sleep(interval_s)
