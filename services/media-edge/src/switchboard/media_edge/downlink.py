"""Agent audio to the phone: generations, pacing a bounded lead ahead of real time, flushes, playout reports.

The same for every transport: how audio reaches the phone, is flushed, and is known to have played is the
call's `Playback` (Twilio: media and marks; LiveKit: an `AudioSource`). Frames are queued per call and sent in
chunks so that the phone holds about `lead` of audio beyond what is playing: enough to ride out jitter, little
enough that a barge-in has almost nothing to throw away. A frame that arrives while the lead is short goes out at
once from the subscription's own task; a backlog (an agent publishes faster than real time) is sent by the call's
pacing task as the lead runs down.

Generations: whether a frame plays is `AgentAudioGate`'s verdict (cleared and stale frames are dropped); an
admitted frame is converted to the phone's format first when the edge converts. The agent learns what the caller
really heard through `ctl.playout`: every `report_interval` while a generation plays (as the playback confirms
it), then once more with `final` set when it is cleared (the position at the clear), when it has played to its
end and nothing more came for `end_idle`, or when the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from switchboard.common.audio.agent_audio import AgentAudioGate, Verdict
from switchboard.common.audio.conversion import PerGeneration
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import Playout
from switchboard.common.runtime.logs import EveryNth
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.playback import Playback, StreamClosed
from switchboard.media_edge.playout import SentChunk

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

_MIN_WAIT_S = 0.001
_RECHECK_S = 0.02
_ECHO_GRACE_S = 0.02


__all__ = ["Downlink", "PacingOptions", "StreamClosed"]


@dataclass(frozen=True, slots=True)
class PacingOptions:
    """How far ahead of real time to send, and how often to tell the agent what played."""

    lead_s: float = 0.1
    min_chunk_s: float = 0.02
    report_interval_s: float = 0.25
    end_idle_s: float = 0.3


@dataclass(slots=True)
class _Generation:
    """One answer of the agent, as far as this stream is concerned."""

    sent: int = 0
    frames: int = 0
    last_frame_at: float = 0.0
    reported: int = 0
    final: bool = False


class Downlink:
    """One call's agent audio on its way to the phone."""

    def __init__(
        self,
        *,
        playback: Playback,
        report: Callable[[Playout], Awaitable[None]],
        metrics: EdgeMetrics,
        options: PacingOptions,
        started_at: float,
        answers: PerGeneration | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.playback = playback
        self.playhead = playback.playhead
        self._report = report
        self._metrics = metrics
        self._clock = clock
        self._started_at = started_at
        self._rate = rate = playback.rate
        self._width = playback.sample_width
        self._per_ms = rate / 1000
        self._lead = options.lead_s
        self._min_chunk = max(1, round(options.min_chunk_s * rate))
        self._report_every = max(1, round(options.report_interval_s * rate))
        self._end_idle = options.end_idle_s
        self.answers = answers if answers is not None else PerGeneration(None)
        self._bad_payload_log = EveryNth(100)
        self._queue: deque[tuple[int, bytes]] = deque()
        self._gens: dict[int, _Generation] = {}
        self._last_final = -1
        self._serial = 0
        self._writing = False
        self._closed = False
        self._first_sent = False
        self._kick = asyncio.Event()

    @property
    def _gate(self) -> AgentAudioGate:
        """The generations of `answers` (read each time: the call's audio route may replace `answers`)."""
        return self.answers.gate

    @property
    def highest_generation(self) -> int:
        """The newest generation of agent audio seen or cleared on this call (-1 before any)."""
        return self._gate.highest

    @property
    def _current(self) -> int:
        return self._gate.newest

    @property
    def _cleared(self) -> int:
        return self._gate.cleared

    # --- from the bus -----------------------------------------------------------------------------

    async def on_frame(self, frame: AudioFrame) -> None:
        """Admit a frame of agent audio, convert it when the edge converts, and send what the lead allows."""
        self._metrics.frames_out.inc()
        if self._closed:
            return
        generation = frame.generation
        verdict = self.answers.admit(generation)
        if verdict is Verdict.CLEARED:
            self._metrics.dropped_cleared.inc()
            return
        if verdict is Verdict.STALE:
            self._metrics.dropped_stale.inc()
            return
        if not verdict.admitted:
            self._metrics.dropped.labels(verdict.value).inc()
            return
        now = self._clock()
        if verdict is Verdict.NEW:
            self._gens[generation] = _Generation()
        state = self._gens[generation]
        state.last_frame_at = now
        state.final = False
        if not frame.payload:
            return
        try:
            payload = self.answers.process(frame.payload)
        except ValueError as exc:
            self._metrics.dropped.labels("bad_payload").inc()
            if self._bad_payload_log():
                logger.warning("dropped agent audio that is not PCM16: %s", exc)
            return
        if len(payload) % self._width:
            self._metrics.dropped.labels("bad_payload").inc()
            return
        if not payload:
            return
        backlog = bool(self._queue)
        if state.frames and not backlog and self.playhead.lead(now) == 0.0:
            self._metrics.late_out.inc()
        state.frames += 1
        self._queue.append((generation, payload))
        if backlog or self._writing:
            self._kick.set()
            return
        await self._pump(now)
        if self._queue:
            self._kick.set()

    async def clear(self, generation: int, received_at: float, *, created_ns: int = 0) -> None:
        """Barge-in: flush the phone's buffer at once, drop `generation` and older, report what was heard.

        `received_at` is the `time.perf_counter()` at which the clear reached the edge, `created_ns` the wall
        clock at which the agent created it.
        """
        if self._closed or not self.answers.clear(generation):
            return
        now = self._clock()
        playhead = self.playhead
        must_clear = playhead.has_pending_upto(generation)
        played = {g: playhead.played(g, now) for g in self._gens if g <= generation}
        resend = playhead.clear(generation, now) if must_clear else []
        if must_clear:
            try:
                await self.playback.flush()
            except StreamClosed:
                self._closed = True
            else:
                self._metrics.clear_reaction.observe(time.perf_counter() - received_at)
                if created_ns:
                    self._metrics.clear_latency.observe(max(0, time.time_ns() - created_ns) / 1e9)
        self._drop_queued(generation)
        for chunk in reversed(resend):
            self._queue.appendleft((chunk.generation, chunk.payload))
            self._gens[chunk.generation].sent -= chunk.samples
        for g in sorted(played):
            state = self._gens.pop(g)
            playhead.forget(g)
            if not state.final:
                await self._publish(g, played[g], final=True)
        if generation not in played and generation > self._last_final:
            await self._publish(generation, 0, final=True)  # cleared before any of it arrived here
        if self._queue and not self._writing:
            await self._pump(self._clock())  # a newer generation goes on at once
        self._kick.set()

    # --- from the phone ---------------------------------------------------------------------------

    async def on_confirmed(self, chunk: SentChunk | None, now: float) -> None:
        """The phone confirmed `chunk` played (None: a confirmation of nothing pending, e.g. after a flush).

        Tells the agent every `report_interval`.
        """
        if chunk is None:
            self._metrics.echoes_ignored.inc()
            return
        self._metrics.echoes_played.inc()
        self._metrics.playout_lag.observe(max(0.0, now - chunk.expected_end))
        state = self._gens.get(chunk.generation)
        if state is None or state.final:
            return
        if chunk.end - state.reported >= self._report_every:
            state.reported = chunk.end
            await self._publish(chunk.generation, chunk.end, final=False)
        if chunk.end == state.sent and chunk.generation < self._current:
            self._kick.set()  # a finished older generation: its final report is due

    # --- pacing -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Send the backlog as the lead runs down and publish final reports; returns when closed."""
        while not self._closed:
            self._kick.clear()
            if self._queue and not self._writing:
                await self._pump(self._clock())
            settled = self.playhead.settle(self._clock())
            if settled is not None:
                await self.on_confirmed(settled, self._clock())
            await self._finish_generations(self._clock())
            if self._kick.is_set():
                continue
            delay = self._next_wake(self._clock())
            if delay is None:
                await self._kick.wait()
            elif delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._kick.wait()

    async def close(self) -> None:
        """The stream ended: stop sending, and report the final position of every open generation."""
        if self._closed:
            return
        self._closed = True
        self._kick.set()
        now = self._clock()
        for g, state in sorted(self._gens.items()):
            if not state.final:
                state.final = True
                await self._publish(g, self.playhead.played(g, now), final=True)
        self._queue.clear()

    def _next_wake(self, now: float) -> float | None:
        """Seconds until the pacing task has something to do (None: nothing until it is kicked)."""
        waits: list[float] = []
        if self._queue:
            # The next chunk is due when the lead runs down; blocked on a slow socket, look again later.
            waits.append(_RECHECK_S if self._writing else self.playhead.play_end - self._lead - now)
        for g, state in self._gens.items():
            if state.final:
                continue
            due = self.playhead.play_end + _ECHO_GRACE_S
            if g == self._current:
                due = max(due, state.last_frame_at + self._end_idle)
            # Past due means echoes are late: poll for them rather than spin.
            waits.append(due - now if due > now else _RECHECK_S)
        return max(_MIN_WAIT_S, min(waits)) if waits else None

    async def _pump(self, now: float) -> None:
        """Send chunks while the lead is short of the target."""
        self._writing = True
        try:
            while self._queue and not self._closed:
                lead = self.playhead.lead(now)
                if lead >= self._lead:
                    break
                need = max(self._min_chunk, math.ceil((self._lead - lead) * self._rate)) * self._width
                generation, payload = self._take(need)
                await self._send_chunk(generation, payload, now)
                now = self._clock()
        except StreamClosed:
            self._closed = True
        finally:
            self._writing = False

    def _take(self, need: int) -> tuple[int, bytes]:
        """Up to `need` bytes (whole samples) from the head of the queue, all of one generation."""
        queue = self._queue
        generation, payload = queue.popleft()
        if len(payload) > need:
            queue.appendleft((generation, payload[need:]))
            return generation, payload[:need]
        parts = [payload]
        size = len(payload)
        while queue and queue[0][0] == generation and size < need:
            _, more = queue.popleft()
            if size + len(more) > need:
                cut = need - size
                queue.appendleft((generation, more[cut:]))
                more = more[:cut]
            parts.append(more)
            size += len(more)
        return generation, parts[0] if len(parts) == 1 else b"".join(parts)

    async def _send_chunk(self, generation: int, payload: bytes, now: float) -> None:
        state = self._gens[generation]
        start = state.sent
        state.sent = end = start + len(payload) // self._width
        self._serial += 1
        mark = f"{generation}:{int(end / self._per_ms)}:{self._serial}"
        chunk = SentChunk(mark, generation, start, end, payload, now)
        self.playhead.sent(chunk, now)
        await self.playback.write(chunk)
        self._metrics.media_out.inc()
        if generation <= self._cleared:
            return  # cleared while the media was being written: its mark would be echoed as if played
        await self.playback.confirm(chunk)
        self._metrics.marks_out.inc()
        self._metrics.pacing_lead.observe(self.playhead.lead(now))
        if not self._first_sent:
            self._first_sent = True
            self._metrics.first_audio.observe(max(0.0, now - self._started_at))

    def _queued_upto(self, generation: int) -> bool:
        """Whether audio of `generation` or older is queued (the queue is in generation order)."""
        return bool(self._queue) and self._queue[0][0] <= generation

    def _drop_queued(self, upto_generation: int) -> None:
        kept = [item for item in self._queue if item[0] > upto_generation]
        dropped = len(self._queue) - len(kept)
        if dropped:
            self._metrics.dropped_cleared.inc(dropped)
            self._queue = deque(kept)

    async def _finish_generations(self, now: float) -> None:
        for g, state in list(self._gens.items()):
            if state.final or self._queued_upto(g) or self.playhead.has_pending(g):
                continue
            superseded = g < self._current
            if superseded or now - state.last_frame_at >= self._end_idle:
                state.final = True
                await self._publish(g, state.sent, final=True)
                if superseded:
                    del self._gens[g]
                    self.playhead.forget(g)

    async def _publish(self, generation: int, samples: int, *, final: bool) -> None:
        if final:
            self._last_final = max(self._last_final, generation)
        try:
            await self._report(
                Playout(generation=generation, played_ms=int(samples / self._per_ms), final=final)
            )
        except Exception:
            logger.exception("could not publish a playout report")
