"""A stand-in agent: takes calls on `svc.agent.{provider}.attach` and speaks without any model behind it.

For tests, benchmarks and load generation. Per call it can play scripted audio as a new generation (published
in 20 ms frames as fast as a model-backed agent would, that is faster than real time), echo the caller's audio
back, publish `ctl.clear` on command, and it records every `ctl.playout` the edge reports. Like an agent, it
publishes `ctl.heartbeat` for its calls (so a stopped stand-in is a lost replica to whoever watches), numbers
its answers from the attach request's `first_generation`, and does not greet a call it resumes.

```python
agent = StandInAgent(bus, StandInOptions(provider="openai"))
await agent.start()
call = await agent.wait_for_call(call_id)
generation = await call.speak(2.0)          # 2 s of synthetic speech
await call.clear()                          # barge-in
report = await call.wait_playout(generation)
await agent.stop()
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from nats.aio.subscription import Subscription

from switchboard.common.audio import StreamResampler
from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachReply, AttachRequest, AttachServer
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.heartbeat import publish_heartbeats
from switchboard.common.bus.messages import (
    CallEnded,
    Clear,
    ComponentAttached,
    Control,
    Event,
    MediaStopped,
    Playout,
    agent_component,
)
from switchboard.sim.speech import synthetic_voice

logger = logging.getLogger(__name__)

FRAME_MS = 20
_YIELD_EVERY = 25  # frames published between two yields to the loop, so a long answer does not starve it


def speech(seconds: float, rate: int) -> npt.NDArray[np.int16]:
    """Exactly `seconds` of synthetic speech at `rate` Hz (PCM16)."""
    samples = int(seconds * rate)
    syllables = max(1, int(seconds / 0.18) + 1)
    voice = synthetic_voice(" ".join(["la"] * syllables), rate)
    return np.resize(voice, samples).astype(np.int16)


@dataclass(frozen=True, slots=True)
class StandInOptions:
    """Which provider's attach requests to serve, how many calls, and what to do on each."""

    provider: str = "openai"
    instance: str = "stand-in-agent"
    capacity: int = 1000
    greeting_s: float = 0.0
    echo: bool = False
    keep_ended: int = 1000
    heartbeat_interval_s: float | None = 1.0
    """`ctl.heartbeat` for every call, as agents publish it; None for a replica that hangs without a sound."""


class AgentCall:
    """One call as the stand-in agent serves it."""

    def __init__(self, bus: Bus, request: AttachRequest, *, echo: bool = False) -> None:
        self.call_id = request.call_id
        self.request = request
        self.in_format = request.agent_in_format
        self.out_format = request.agent_out_format
        self.echo = echo
        self.generation = request.first_generation - 1  # answers are numbered from `first_generation`
        self.cleared = 0
        self.playouts: list[Playout] = []
        self.caller_frames = 0
        self.caller_seqs: tuple[int, int] | None = None
        """The first and the last `seq` of caller audio received."""
        self.ended = asyncio.Event()
        self._bus = bus
        self._seq = 0
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[int]] = set()
        self._changed = asyncio.Event()
        self._frame_bytes = self.out_format.bytes_for_ms(FRAME_MS)
        self._out_subject = subjects.audio(self.call_id, Direction.OUT, self.out_format)
        if echo and AudioFormat.PCMU8K in (self.in_format, self.out_format):
            raise ValueError("the stand-in agent echoes PCM16 formats only")
        self._echo_resampler = (
            StreamResampler(self.in_format.rate, self.out_format.rate)
            if echo and self.in_format is not self.out_format
            else None
        )
        self._echo_ms = 0

    async def start(self) -> None:
        """Subscribe to the playout reports and the caller's audio."""
        bus = self._bus
        self._subscriptions.append(
            await bus.subscribe_control(self.call_id, self._on_playout, Playout.type_name())
        )
        self._subscriptions.append(
            await bus.subscribe_frames(self.call_id, Direction.IN, self.in_format, self._on_caller_frame)
        )

    async def stop(self) -> None:
        """Stop everything running for the call."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subscriptions.clear()
        self.ended.set()
        self._changed.set()

    # --- speaking --------------------------------------------------------------------------------

    async def play(self, samples: npt.NDArray[np.int16]) -> int:
        """Publish PCM16 samples (at the agent's output rate) as a new generation, in 20 ms frames; returns it."""
        if self.out_format is AudioFormat.PCMU8K:
            raise ValueError("the stand-in agent speaks PCM16 formats only")
        generation = self._new_generation()
        payload = samples.astype("<i2").tobytes()
        for index, offset in enumerate(range(0, len(payload), self._frame_bytes)):
            if generation <= self.cleared:
                break  # cleared while it was being published: an agent stops forwarding it at once
            await self._publish(generation, index * FRAME_MS, payload[offset : offset + self._frame_bytes])
            if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                await asyncio.sleep(0)
        return generation

    async def speak(self, seconds: float) -> int:
        """Publish `seconds` of synthetic speech as a new generation; returns it."""
        return await self.play(speech(seconds, self.out_format.rate))

    def speak_later(self, seconds: float) -> None:
        """Start speaking in a task of the call's own (for a greeting, without holding up the caller)."""
        task = asyncio.get_running_loop().create_task(self.speak(seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def clear(self, generation: int | None = None) -> int:
        """Publish `ctl.clear` for `generation` (default: the latest); returns the generation cleared."""
        generation = self.generation if generation is None else generation
        self.cleared = max(self.cleared, generation)
        await self._bus.publish_control(self.call_id, Clear(generation=generation, epoch=self.request.epoch))
        return generation

    def _new_generation(self) -> int:
        self.generation += 1
        return self.generation

    async def _publish(self, generation: int, media_ms: int, payload: bytes) -> None:
        self._seq += 1
        frame = AudioFrame(
            self.call_id, self._seq, media_ms, time.time_ns(), generation, payload, epoch=self.request.epoch
        )
        await self._bus.nc.publish(self._out_subject, self._bus.frames.encode(frame))

    async def _on_caller_frame(self, frame: AudioFrame) -> None:
        self.caller_frames += 1
        first = frame.seq if self.caller_seqs is None else self.caller_seqs[0]
        self.caller_seqs = (first, frame.seq)
        if not self.echo:
            return
        if self.generation <= self.cleared:
            self._new_generation()
            self._echo_ms = 0
        payload = frame.payload
        if self._echo_resampler is not None:
            pcm = self._echo_resampler.process(np.frombuffer(payload, dtype="<i2"))
            payload = pcm.astype("<i2").tobytes()
        await self._publish(self.generation, self._echo_ms, payload)
        self._echo_ms += FRAME_MS

    # --- what the edge reported ------------------------------------------------------------------

    async def _on_playout(self, message: Control) -> None:
        if isinstance(message, Playout):
            self.playouts.append(message)
            self._changed.set()

    def final_playout(self, generation: int) -> Playout | None:
        """The final report of `generation`, if it came."""
        return next((p for p in self.playouts if p.generation == generation and p.final), None)

    async def wait_playout(self, generation: int, *, final: bool = True, timeout_s: float = 5.0) -> Playout:
        """The first report of `generation` (a final one unless told otherwise); raises `TimeoutError`."""
        async with asyncio.timeout(timeout_s):
            while True:
                for report in self.playouts:
                    if report.generation == generation and (report.final or not final):
                        return report
                self._changed.clear()
                await self._changed.wait()


class StandInAgent:
    """Serves the attach requests of one provider with stand-in calls."""

    def __init__(self, bus: Bus, options: StandInOptions | None = None) -> None:
        self.options = options or StandInOptions()
        self.calls: dict[str, AgentCall] = {}
        self.ended: deque[AgentCall] = deque(maxlen=self.options.keep_ended)
        self._bus = bus
        self._end_subscriptions: dict[str, list[Subscription]] = {}
        self._arrived = asyncio.Event()
        self._heartbeats: asyncio.Task[None] | None = None
        self.attach = AttachServer(
            bus,
            subjects.agent_attach(self.options.provider),
            instance=self.options.instance,
            capacity=self.options.capacity,
            handler=self._on_attach,
        )

    async def start(self) -> None:
        """Join the provider's attach queue group and publish the heartbeats of the calls attached here."""
        await self.attach.start()
        interval = self.options.heartbeat_interval_s
        if interval is not None:
            self._heartbeats = asyncio.get_running_loop().create_task(
                publish_heartbeats(
                    self._bus,
                    agent_component(self.options.provider),
                    self.options.instance,
                    lambda: self.calls.keys(),
                    interval,
                    self._epoch_of,
                ),
                name=f"heartbeats-{self.options.instance}",
            )

    async def stop(self) -> None:
        """Leave the queue group and let every call go (to whoever watches, the replica is gone)."""
        await self.attach.stop()
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeats
            self._heartbeats = None
        for call_id in list(self.calls):
            await self._end(call_id)

    def _epoch_of(self, call_id: str) -> int:
        call = self.calls.get(call_id)
        return call.request.epoch if call is not None else 0

    async def wait_for_call(self, call_id: str, timeout_s: float = 10.0) -> AgentCall:
        """The call once it is attached here; raises `TimeoutError`."""
        async with asyncio.timeout(timeout_s):
            while call_id not in self.calls:
                self._arrived.clear()
                await self._arrived.wait()
        return self.calls[call_id]

    async def _on_attach(self, request: AttachRequest) -> AttachReply:
        call = AgentCall(self._bus, request, echo=self.options.echo)
        await call.start()
        self.calls[call.call_id] = call

        async def on_end(_event: Event) -> None:
            await self._end(call.call_id)

        self._end_subscriptions[call.call_id] = [
            await self._bus.subscribe_events(call.call_id, on_end, name)
            for name in (MediaStopped.type_name(), CallEnded.type_name())
        ]
        self._arrived.set()
        if self.options.greeting_s > 0 and not request.resume:
            call.speak_later(self.options.greeting_s)
        await self._bus.publish_event(
            call.call_id,
            ComponentAttached(
                component=agent_component(self.options.provider),
                instance=self.options.instance,
                detail={"stand_in": True},
            ),
        )
        return AttachReply(accepted=True, detail={"stand_in": True})

    async def _end(self, call_id: str) -> None:
        call = self.calls.pop(call_id, None)
        if call is None:
            return
        for sub in self._end_subscriptions.pop(call_id, []):
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        await call.stop()
        self.ended.append(call)
        await self.attach.release(call_id)
