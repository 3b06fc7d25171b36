"""The phone leg's side of agent audio: how it is sent, flushed, and how much of it the caller has heard.

`Downlink` (generations, pacing, playout reports) is the same for every transport; what differs is behind
`Playback`: Twilio sends base64 μ-law with a mark after each chunk and learns what played from the echoes
(`TwilioPlayback`); LiveKit pushes PCM into an `AudioSource` whose queue tells what is still to play
(`livekit_playback.SourcePlayback`). Each keeps a `Playhead`: the chunks sent and not yet known to have played.
"""

from __future__ import annotations

import binascii
from collections.abc import Awaitable, Callable
from typing import Protocol

from switchboard.media_edge.playout import PlayoutLedger, SentChunk
from switchboard.media_edge.twilio import OutboundEncoder


class StreamClosed(Exception):
    """The phone leg is gone: nothing more can be sent."""


class Playhead(Protocol):
    """What was sent to the phone and where its playout is; positions in samples of a generation."""

    @property
    def play_end(self) -> float:
        """When everything sent so far should have finished playing (monotonic seconds)."""
        ...

    def sent(self, chunk: SentChunk, now: float) -> None:
        """`chunk` is on its way to the phone at `now`."""
        ...

    def clear(self, upto_generation: int, now: float) -> list[SentChunk]:
        """The phone's buffer is flushed: returns the pending chunks of newer generations, to send again."""
        ...

    def settle(self, now: float) -> SentChunk | None:
        """Confirm what is known to have played by `now` without a word from the phone; the last such chunk."""
        ...

    def forget(self, generation: int) -> None:
        """The generation is over: drop its confirmed position."""
        ...

    def lead(self, now: float) -> float:
        """Seconds of audio sent that have not played yet."""
        ...

    def has_pending(self, generation: int) -> bool:
        """Whether audio of `generation` is sent but not confirmed."""
        ...

    def has_pending_upto(self, generation: int) -> bool:
        """Whether audio of `generation` or an older one is sent but not confirmed."""
        ...

    def played(self, generation: int, now: float) -> int:
        """Samples of `generation` the caller has most probably heard by `now`."""
        ...


class Playback(Protocol):
    """Agent audio's way out to the phone. Raises `StreamClosed` once the leg is gone."""

    rate: int
    """Samples per second of the audio it takes."""
    sample_width: int
    """Bytes per sample."""
    playhead: Playhead

    async def write(self, chunk: SentChunk) -> None:
        """Send the chunk's audio (already entered in the playhead)."""
        ...

    async def confirm(self, chunk: SentChunk) -> None:
        """Ask the phone to confirm when `chunk` has played (when it can; otherwise nothing)."""
        ...

    async def flush(self) -> None:
        """Drop everything sent that has not played yet (barge-in)."""
        ...


class TwilioPlayback:
    """μ-law to Twilio Media Streams: `media` then a `mark` per chunk, `clear` to flush; echoes confirm."""

    rate = 8000
    sample_width = 1

    def __init__(self, encoder: OutboundEncoder, send: Callable[[str], Awaitable[None]]) -> None:
        self._encoder = encoder
        self._send = send
        self.ledger = PlayoutLedger(self.rate)
        self.playhead: Playhead = self.ledger

    async def write(self, chunk: SentChunk) -> None:
        """A `media` message with the chunk's μ-law."""
        await self._send(
            self._encoder.media(binascii.b2a_base64(chunk.payload, newline=False).decode("ascii"))
        )

    async def confirm(self, chunk: SentChunk) -> None:
        """A `mark` named after the chunk: Twilio echoes it once the chunk has played."""
        await self._send(self._encoder.mark(chunk.mark))

    async def flush(self) -> None:
        """A `clear`: Twilio drops its queue and echoes every pending mark at once."""
        await self._send(self._encoder.clear())

    def echoed(self, mark: str, now: float) -> SentChunk | None:
        """Twilio echoed `mark`: its chunk (and every one before it) played; None when it is not pending."""
        return self.ledger.echoed(mark, now)
