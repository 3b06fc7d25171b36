"""A stream's durable events, published in order by one task, so the socket reader never waits for JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import Event

logger = logging.getLogger(__name__)

_ATTEMPTS = 3


class EventOutbox:
    """Queues a call's events and stores them in `CALL_EVENTS` one after the other.

    A failed publish is retried with the same message id, so the stream stores it once.
    """

    def __init__(self, bus: Bus, call_id: str, stream_sid: str, *, timeout_s: float) -> None:
        self._bus = bus
        self._call_id = call_id
        self._id_prefix = f"{call_id}:{stream_sid}"
        self._timeout_s = timeout_s
        self._queue: asyncio.Queue[tuple[Event, asyncio.Future[None] | None] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._count = 0

    def start(self) -> None:
        """Start publishing."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"events-{self._call_id}")

    def post(self, event: Event) -> None:
        """Queue an event; returns at once."""
        self._queue.put_nowait((event, None))

    async def publish(self, event: Event) -> None:
        """Queue an event and wait until the stream has stored it (or publishing gave up)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((event, done))
        await done

    async def close(self) -> None:
        """Publish what is queued (within the publish timeout for each), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self._timeout_s * _ATTEMPTS)
        except TimeoutError:
            logger.warning("gave up publishing %d queued events", self._queue.qsize())
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            event, done = item
            self._count += 1
            msg_id = f"{self._id_prefix}:{self._count}"
            try:
                await self._store(event, msg_id)
            except Exception as exc:
                logger.exception("could not store the %s event", event.type_name())
                if done is not None and not done.done():
                    done.set_exception(exc)
            else:
                if done is not None and not done.done():
                    done.set_result(None)

    async def _store(self, event: Event, msg_id: str) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                await self._bus.publish_event(self._call_id, event, msg_id=msg_id)
                return
            except Exception:
                if attempt == _ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.1 * 2**attempt)
