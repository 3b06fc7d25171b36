"""Waiting in tests for something that happens asynchronously, with a clear failure when it does not."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], object], within_s: float = 5.0, *, what: str = "") -> None:
    """Return as soon as `condition()` is truthy; fail with `what` when it is not within `within_s` seconds."""
    try:
        async with asyncio.timeout(within_s):
            while not condition():  # noqa: ASYNC110  # polling is the point: any condition, no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not met within {within_s}s: {what or condition}") from None
