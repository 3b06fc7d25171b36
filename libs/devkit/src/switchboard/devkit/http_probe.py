"""Plain HTTP probes for tests of service processes: a status and body, and waiting for readiness."""

from __future__ import annotations

import asyncio
import urllib.request


def http_get(url: str, timeout_s: float = 2.0) -> tuple[int, str]:
    """(status, body) of a GET; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status), response.read().decode()
    except OSError:
        return 0, ""


async def wait_ready(url: str, *, within_s: float = 60.0) -> None:
    """Return once `url` answers 200; fail after `within_s` (a cold start on a loaded machine takes a while)."""
    try:
        async with asyncio.timeout(within_s):
            while (await asyncio.to_thread(http_get, url))[0] != 200:  # noqa: ASYNC110  # polling a process
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{url} not ready within {within_s}s") from None
