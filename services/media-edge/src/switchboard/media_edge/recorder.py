"""A call's stereo recording, written to the object store in chunks while the call runs.

Left: the caller, placed on the caller stream's own clock (its timestamps), aligned with the edge's clock at
the first frame. Right: what the caller heard: each chunk of agent audio is placed where the playback starts
playing it on the edge's playout clock, and a flush (barge-in) erases everything placed after the moment of the
flush, so audio that was sent but never played is not in the recording. Both channels are μ-law at 8 kHz (the
phone leg's own format; LiveKit's PCM is converted).

Memory: the two channels are kept only for the last `hold` seconds (agent audio is placed up to the pacing
lead ahead of now, and a flush may still cut it), then interleaved into the pending chunk, which is stored
once it holds `CHUNK_BYTES` (4 s, 64 KB). See `benchmarks/bench_recording.py` for the measured figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import numpy as np

from switchboard.common.audio.conversion import Conversion, conversion
from switchboard.common.bus.formats import AudioFormat
from switchboard.common.recordings.layout import CHUNK_BYTES, RATE, SILENCE, Manifest, duration_ms
from switchboard.common.recordings.store import RecordingStore
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.playback import Playback
from switchboard.media_edge.playout import SentChunk

MAX_AHEAD_S = 30.0
"""Audio placed further than this beyond what is stored is dropped (bounds the memory of a wild timestamp)."""


def _to_ulaw(fmt: AudioFormat) -> Conversion | None:
    return None if fmt is AudioFormat.PCMU8K else conversion(fmt, AudioFormat.PCMU8K)


def format_of(rate: int, width: int) -> AudioFormat:
    """The bus format of mono audio at `rate` with `width` bytes a sample."""
    if width == 1:
        return AudioFormat.PCMU8K
    for fmt in AudioFormat:
        if fmt.bytes_per_sample == 2 and fmt.rate == rate:
            return fmt
    raise ValueError(f"no PCM16 format at {rate} Hz")


class CallRecorder:
    """One call's recording from the moment the call is known to be recorded to `finish()`."""

    def __init__(
        self,
        store: RecordingStore,
        call_id: str,
        metrics: EdgeMetrics,
        *,
        caller_format: AudioFormat,
        agent_format: AudioFormat,
        log: logging.LoggerAdapter[logging.Logger],
        hold_s: float = 1.0,
        tick_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.call_id = call_id
        self._metrics = metrics
        self._log = log
        self._clock = clock
        self._origin = clock()
        self._hold = hold_s
        self._tick = tick_s
        self._caller = _to_ulaw(caller_format)
        self._agent = _to_ulaw(agent_format)
        self._caller_offset: float | None = None
        self._left = bytearray()
        self._right = bytearray()
        self._base = 0  # sample index of the first sample of _left/_right
        self._pending = bytearray()
        self._seq = 0
        self._stored = 0
        self.failed = False
        self._finished = False
        self._wake = asyncio.Event()
        metrics.recordings_active.inc()

    @property
    def buffered_bytes(self) -> int:
        """Audio held in memory now (both channels and the pending chunk)."""
        return len(self._left) + len(self._right) + len(self._pending)

    def _index(self, at: float) -> int:
        return round((at - self._origin) * RATE)

    def _place(self, channel: bytearray, index: int, data: bytes) -> None:
        if self.failed or self._finished:
            return
        offset = index - self._base
        if offset < 0:  # older than what is stored already
            data = data[-offset:]
            offset = 0
        if offset + len(data) > MAX_AHEAD_S * RATE:
            return
        if len(channel) < offset:
            channel.extend(bytes([SILENCE]) * (offset - len(channel)))
        channel[offset : offset + len(data)] = data

    # --- what the call hears and says -------------------------------------------------------------

    def caller(self, payload: bytes, timestamp_ms: int) -> None:
        """Caller audio in the leg's format; `timestamp_ms` on the leg's stream clock."""
        ulaw = self._caller.process(payload) if self._caller is not None else payload
        if self._caller_offset is None:
            self._caller_offset = self._clock() - self._origin - timestamp_ms / 1000 - len(ulaw) / RATE
        self._place(self._left, round((timestamp_ms / 1000 + self._caller_offset) * RATE), ulaw)

    def agent(self, payload: bytes, starts_at: float) -> None:
        """Agent audio in the playback's format, which starts playing at `starts_at` (edge's clock)."""
        ulaw = self._agent.process(payload) if self._agent is not None else payload
        self._place(self._right, self._index(starts_at), ulaw)

    def cut(self, at: float) -> None:
        """The playback was flushed at `at`: nothing placed after it was heard."""
        offset = self._index(at) - self._base
        if 0 <= offset < len(self._right):
            del self._right[offset:]

    # --- storing ----------------------------------------------------------------------------------

    def _commit(self, upto: int) -> None:
        """Interleave both channels up to sample index `upto` into the pending chunk."""
        n = upto - self._base
        if n <= 0:
            return
        stereo = np.full(2 * n, SILENCE, dtype=np.uint8)
        for column, channel in ((0, self._left), (1, self._right)):
            have = min(n, len(channel))
            stereo[column : 2 * have : 2] = np.frombuffer(channel, dtype=np.uint8, count=have)
            del channel[:have]
        self._pending.extend(stereo.tobytes())
        self._base = upto

    async def _store_full_chunks(self, *, last: bool = False) -> None:
        while len(self._pending) >= CHUNK_BYTES or (last and self._pending):
            data = bytes(self._pending[:CHUNK_BYTES])
            try:
                await self._store.put_chunk(self.call_id, self._seq, data)
            except Exception as exc:
                self._fail("chunk", exc)
                return
            del self._pending[: len(data)]
            self._seq += 1
            self._stored += len(data)
            self._metrics.recording_bytes.inc(len(data))

    def _fail(self, stage: str, exc: Exception) -> None:
        self._metrics.recording_failures.labels(stage).inc()
        self._log.warning("recording stopped: %s could not be stored: %r", stage, exc)
        self.failed = True
        self._left.clear()
        self._right.clear()
        self._pending.clear()

    async def run(self) -> None:
        """Store what can no longer change, chunk by chunk, until `finish()`."""
        while not (self.failed or self._finished):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick):
                    await self._wake.wait()
            if self._finished:
                return
            await self.store_due()

    async def store_due(self) -> None:
        """Interleave what can no longer change (older than `hold`) and store the chunks that are full."""
        self._commit(self._index(self._clock() - self._hold))
        await self._store_full_chunks()

    async def finish(self) -> Manifest:
        """The call ended: store the rest and the manifest. What was not played by now was not heard."""
        if self._finished:
            raise RuntimeError("the recording is finished already")
        now = self._clock()
        self.cut(now)
        self._finished = True
        self._wake.set()
        self._metrics.recordings_active.dec()
        if not self.failed:
            self._commit(max(self._index(now), self._base + len(self._left)))
            await self._store_full_chunks(last=True)
        manifest = Manifest(
            chunks=self._seq, size=self._stored, duration_ms=duration_ms(self._stored), failed=self.failed
        )
        try:
            await self._store.put_manifest(self.call_id, manifest)
        except Exception as exc:
            self._metrics.recording_failures.labels("manifest").inc()
            self._log.warning("the recording's manifest could not be stored: %r", exc)
        return manifest


class RecordedPlayback:
    """A leg's `Playback` that also places what it plays, and cuts what it flushes, in the call's recording."""

    def __init__(self, inner: Playback, clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self._clock = clock
        self.rate = inner.rate
        self.sample_width = inner.sample_width
        self.playhead = inner.playhead
        self.recorder: CallRecorder | None = None

    async def write(self, chunk: SentChunk) -> None:
        """Record the chunk where it starts playing (the playhead has placed it), then send it."""
        if self.recorder is not None:
            self.recorder.agent(chunk.payload, chunk.expected_end - chunk.samples / self.rate)
        await self._inner.write(chunk)

    async def confirm(self, chunk: SentChunk) -> None:
        """As the leg's playback does."""
        await self._inner.confirm(chunk)

    async def flush(self) -> None:
        """Cut the recording's right channel at this moment, then flush the phone's buffer."""
        if self.recorder is not None:
            self.recorder.cut(self._clock())
        await self._inner.flush()
