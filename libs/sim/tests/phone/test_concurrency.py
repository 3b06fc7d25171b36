from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from switchboard.sim.phone import MediaStreamCall

if TYPE_CHECKING:
    from conftest import FakeEdge

pytestmark = pytest.mark.integration

CALLS = 50
SECONDS = 2.0


async def test_fifty_phones_stream_at_once_each_in_order_and_never_ahead_of_the_clock(edge: FakeEdge) -> None:
    # How close to 50 messages a second each phone keeps under load is a figure, not a behaviour: it is
    # libs/sim/bench/bench_phones.py's. Here: every phone streams its own numbered audio, paced by the clock.
    calls = [MediaStreamCall(edge.url) for _ in range(CALLS)]
    streamed_s: dict[str, float] = {}

    async def run(call: MediaStreamCall) -> None:
        started = time.monotonic()
        async with call:
            await asyncio.sleep(SECONDS)
        streamed_s[call.stream_sid] = time.monotonic() - started

    async with asyncio.TaskGroup() as group:
        for call in calls:
            group.create_task(run(call))

    assert len(edge.sessions) == CALLS
    by_stream = {session.of("start")[0]["streamSid"]: session for session in edge.sessions}
    assert sorted(by_stream) == sorted(call.stream_sid for call in calls), (
        "one stream per phone, no cross-talk"
    )
    for stream_sid, session in by_stream.items():
        media = [m["media"] for m in session.of("media")]
        assert media, f"{stream_sid} sent no audio"
        assert [int(m["chunk"]) for m in media] == list(range(1, len(media) + 1))
        assert [int(m["timestamp"]) for m in media] == [20 * n for n in range(len(media))]
        numbered = [int(m["sequenceNumber"]) for m in session.messages[1:]]
        assert numbered == list(range(1, len(numbered) + 1))
        assert all(m.get("streamSid") == stream_sid for m in session.messages[1:])
        # Frame n is due 20 n ms after the stream starts and never goes out before: however loaded the
        # machine, a phone cannot have sent more 20 ms frames than the time it was streaming holds.
        assert len(media) <= streamed_s[stream_sid] * 50 + 1
