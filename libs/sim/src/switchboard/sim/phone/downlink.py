"""The server → phone half of a call: what Twilio does with the `media`, `mark` and `clear` it receives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from switchboard.sim.phone import messages
from switchboard.sim.phone.playout import PlayoutBuffer
from switchboard.sim.phone.report import StreamCounters

logger = logging.getLogger(__name__)

Echo = Callable[[str], Awaitable[None]]


class Downlink:
    """Applies server messages to the playout buffer and sends each mark echo at the moment Twilio would.

    `echo(name)` sends a `mark` echo; the buffer decides when. `run()` is the timer that echoes marks whose audio
    has finished playing; it runs for as long as the stream does.
    """

    def __init__(self, stream_sid: str, buffer: PlayoutBuffer, counters: StreamCounters, echo: Echo) -> None:
        self.stream_sid = stream_sid
        self.buffer = buffer
        self.counters = counters
        self._echo = echo
        self._changed = asyncio.Event()

    async def receive(self, frame: str | bytes) -> None:
        """Handle one frame from the server; what Twilio would reject is counted, then ignored."""
        if isinstance(frame, bytes):
            self.counters.binary_frames += 1
            record_violation(self.counters, "binary_frame", f"{len(frame)} bytes", stream_sid=self.stream_sid)
            return
        try:
            message = messages.parse_server_message(frame)
        except messages.ProtocolViolation as e:
            record_violation(self.counters, e.kind, e.detail, stream_sid=self.stream_sid)
            return
        if message.stream_sid != self.stream_sid:
            record_violation(
                self.counters, "wrong_stream_sid", message.stream_sid, stream_sid=self.stream_sid
            )
            return
        echoes: list[str] = []
        if isinstance(message, messages.ServerMedia):
            self.counters.media_received += 1
            self.buffer.append(message.audio)
        elif isinstance(message, messages.ServerMark):
            echoes = self.buffer.mark(message.name)
        else:
            echoes = self.buffer.clear()
        self._changed.set()
        for name in echoes:
            await self._echo(name)

    async def run(self) -> None:
        """Echo each mark when the audio queued before it has finished playing."""
        while True:
            due = self.buffer.next_due()
            self._changed.clear()
            if due is None:
                await self._changed.wait()
            elif (delay := due - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._changed.wait()
            for name in self.buffer.poll():
                await self._echo(name)


def record_violation(counters: StreamCounters, kind: str, detail: str, *, stream_sid: str) -> None:
    """Count a server message Twilio would have rejected."""
    logger.warning("simulated stream %s: the server sent %s (%s)", stream_sid, kind, detail)
    counters.violations.append(f"{kind}: {detail}")
