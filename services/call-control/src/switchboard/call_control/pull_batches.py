"""Batches of messages from a JetStream pull consumer, until a stop event: the loop the durable consumers share.

An empty wait is no error (nats-py raises a time-out for it), a bus outage is logged and tried again, and a stop
cuts the wait short at once instead of letting the current fetch run out (messages it would have brought stay
with the server and are delivered again after their ack wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

logger = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 1.0


async def pull_batches(
    sub: JetStreamContext.PullSubscription, stop: asyncio.Event, *, batch: int, what: str, wait_s: float = 1.0
) -> AsyncIterator[list[Msg]]:
    """Yield each non-empty batch of up to `batch` messages until `stop` is set; unsubscribes at the end."""
    stopping = asyncio.create_task(stop.wait(), name=f"{what}-stop")
    try:
        while not stop.is_set():
            fetching = asyncio.create_task(sub.fetch(batch, timeout=wait_s), name=f"{what}-fetch")
            await asyncio.wait({fetching, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not fetching.done():
                fetching.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fetching
                break
            try:
                messages = fetching.result()
            except (nats.errors.TimeoutError, TimeoutError):  # nothing came: nats-py raises either
                continue
            except Exception:  # the loop's boundary: a bus outage must not end the consumer
                logger.warning("fetching %s failed; trying again", what, exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_AFTER_FAILURE_S)
                continue
            if messages:
                yield messages
    finally:
        stopping.cancel()
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
