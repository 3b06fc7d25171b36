r"""The load generator: many simulated calls at once through the whole platform, and what they measured.

It is the outside world of a platform under load. It places calls through call-control's API, plays Twilio (the
REST API, and one simulated phone per call on a real Media Stream) and the OpenAI Realtime model (scripted), each
in a process of its own, and makes every callee talk: the agent greets, the callee says something every few
seconds, the model answers in 2-4 s, and about a third of the answers are barged in on. This process places the
calls and taps the bus; the two emulator processes run at a lower priority so the platform keeps the CPU it would
have on its own. With `LoadOptions(transport="livekit")` the phones are the LiveKit emulator's SIP phones instead
(`switchboard.sim.loadgen_livekit`): call-control dials them with `CreateSIPParticipant`, the edge joins each
call's room, and the same callees talk on them.

    python -m switchboard.sim.loadgen --api http://127.0.0.1:8080 --api-key KEY --nats nats://127.0.0.1:4222 \
        --edge ws://127.0.0.1:8081 --account-sid AC… --auth-token TOKEN --twilio-port 9400 \
        --openai-key KEY --openai-port 9401 --calls 10,20 --seconds 20

The platform must send its Twilio requests to the Twilio port (call-control `TWILIO_API_BASE_URL`) and open its
OpenAI sessions on the OpenAI port (agent-openai `BASE_URL`), with the same account, auth token and key.

What a measurement window reports (`WindowReport`), from exact samples:

- caller → agent: for a sample of the calls, `time.time_ns() - frame.ingest_ns` of every caller frame on the
  agent's subject (`audio.in.<agent format>`) as a subscriber here receives it: edge ingest to what the agent gets;
- agent → caller: the same on `audio.out.pcmu8k`: the agent's publish to what the edge gets;
- barge-in reaction: from the model's `input_audio_buffer.speech_started` (when the emulator took in the audio it
  detected speech in, and sent the event) to Twilio's `clear` written by the edge (the timestamp of the final
  `ctl.playout` of the cleared generation, which the edge publishes right after writing the `clear`); with its
  parts: to `ctl.clear` published by the agent, and to the `clear` received by the phone. On LiveKit calls the end
  is the edge's `AudioSource.clear_queue()` (the same final `ctl.playout` follows it) and a SIP phone is told
  nothing, so there is no phone part. Each model session is matched to its call through the caller transcript,
  which carries the session's id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Protocol, Self

import aiohttp
import numpy as np
import numpy.typing as npt
import uvloop
from nats.aio.msg import Msg

from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.messages import Clear, Control, Playout, TranscriptTurn
from switchboard.common.errors import SwitchboardError
from switchboard.common.profiles import PROVIDER_AUDIO
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.sim.openai_realtime import Behaviour, OpenAIRealtimeEmulator, RecordedEvent, Script
from switchboard.sim.phone import CallEnded, MediaStreamCall, PacingStats
from switchboard.sim.phone.outbound import Utterance
from switchboard.sim.phone.playout import PlayoutBuffer
from switchboard.sim.speech import synthesize
from switchboard.sim.twilio_rest.behaviour import Callee
from switchboard.sim.twilio_rest.call import EmulatedCall
from switchboard.sim.twilio_rest.server import TwilioRestEmulator

logger = logging.getLogger(__name__)

GREETING = "Thank you for calling. This is the front desk, how can I help you today?"
REPLIES = (  # 2.9 to 3.8 s each in the emulators' synthetic voice
    "Of course. May I have your name and a number to call you back?",
    "Thank you, I have noted that. Someone will call you back today.",
    "I cannot look that up, but I can take a message for the team.",
    "Let me read that back to you to make sure it is right.",
    "Certainly. Is there anything else I can help you with?",
)
CALLER_LINES = (  # 1.1 to 2.9 s
    "I would like to leave a message.",
    "Yes, it is Sam Taylor.",
    "My number is five five five, zero one, two three.",
    "It is about the delivery on Tuesday.",
)
INTERJECTIONS = ("Sorry, one more thing.", "Wait, hold on.")
SPEECH_STARTED = "input_audio_buffer.speech_started"
_MARKER = re.compile(r"\[session (\S+)\]")
_POLL_S = 0.05
_REACTION_WITHIN_NS = 2_000_000_000


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the platform is, and where the load generator serves Twilio and OpenAI for it."""

    api_url: str
    api_key: str
    nats_url: str
    edge_url: str
    """The edge's Media Streams endpoint as the phones dial it, e.g. ``ws://127.0.0.1:8081``."""
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_port: int
    openai_api_key: str
    openai_port: int
    public_edge_url: str = "wss://edge.switchboard.local"
    """The stream URL prefix in call-control's TwiML; the phones dial `edge_url` instead."""
    livekit_port: int = 0
    """Where the LiveKit emulator listens (LiveKit calls only), with the platform's API key and secret."""
    livekit_api_key: str = ""
    livekit_api_secret: str = ""
    livekit_trunk: str = ""
    """The outbound trunk call-control dials on (`LIVEKIT_OUTBOUND_TRUNK_ID`), and its number."""
    livekit_number: str = ""
    livekit_webhook_url: str = ""
    """Where the emulator sends its room webhooks (call-control's `/livekit/webhook`)."""


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How the callees behave and how the load is applied."""

    profile: str = "receptionist-openai"
    transport: Literal["twilio", "livekit"] = "twilio"
    """Whose phones the calls go to: the Twilio emulator's (Media Streams) or the LiveKit emulator's (SIP)."""
    callee_number: str = "+14155550123"
    ring_s: float = 0.2
    pause_s: tuple[float, float] = (1.0, 3.0)
    """The callee's silence after the agent finished speaking, before saying something."""
    barge_in_share: float = 1 / 3
    barge_in_after_s: tuple[float, float] = (0.5, 1.5)
    """How far into an answer the callee speaks over it."""
    model_think_s: float = 0.25
    """The model's delay from a response's creation to its first audio."""
    tap_calls: int = 20
    """How many calls the bus tap times (every frame of each, both ways)."""
    edge_transcodes: bool = True
    """Whether the edge converts μ-law itself (it takes the agent's frames) or a transcoder does (μ-law frames)."""
    ramp_per_s: float = 10.0
    """Calls placed (or hung up) per second when the number of calls changes."""
    nice: int = 5
    """Niceness of the emulator processes."""
    seed: int = 7
    log_dir: str | None = None
    """Where the emulator processes write their logs (to this process's stderr when unset)."""


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100, linear between samples); NaN without samples."""
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass(slots=True)
class WindowReport:
    """What one measurement window saw; times in ms."""

    calls: int
    """Calls up at the start of the window."""
    calls_at_end: int
    seconds: float
    caller_ms: list[float] = field(default_factory=list)
    agent_ms: list[float] = field(default_factory=list)
    barge_in_ms: list[float] = field(default_factory=list)
    """Model speech started → Twilio `clear` written by the edge."""
    barge_in_agent_ms: list[float] = field(default_factory=list)
    """Model speech started → `ctl.clear` published by the agent."""
    barge_in_phone_ms: list[float] = field(default_factory=list)
    """Model speech started → Twilio `clear` received by the phone (its reading included)."""
    barge_ins_spoken: int = 0
    """Times a callee spoke over an answer."""
    clears_without_twilio_clear: int = 0
    """Agent clears the edge had nothing to clear at Twilio for (all of it had played); Twilio calls only."""
    unmatched_sessions: int = 0
    """Model sessions with speech in the window whose call is not known (no caller transcript yet)."""
    phone_frames: int = 0
    phone_late_frames: int = 0
    """Caller frames the phones sent more than 20 ms late (the emulators short of CPU)."""

    @property
    def worst_p99_ms(self) -> float:
        """The higher of the two directions' p99 (NaN when a direction has no sample)."""
        both = (percentile(self.caller_ms, 99), percentile(self.agent_ms, 99))
        return float("nan") if any(np.isnan(both)) else max(both)

    def summary(self) -> str:
        """A few lines for a terminal."""

        def pair(values: list[float]) -> str:
            return f"p50 {percentile(values, 50):.2f} / p99 {percentile(values, 99):.2f} ms (n={len(values)})"

        return "\n".join(
            [
                f"{self.calls} calls ({self.calls_at_end} at the end), {self.seconds:.1f} s",
                f"  caller → agent      {pair(self.caller_ms)}",
                f"  agent → caller      {pair(self.agent_ms)}",
                f"  barge-in            {pair(self.barge_in_ms)}",
                f"    → ctl.clear       {pair(self.barge_in_agent_ms)}",
                f"    → at the phone    {pair(self.barge_in_phone_ms)}",
                f"  callee barge-ins {self.barge_ins_spoken}, clears with nothing left at Twilio "
                f"{self.clears_without_twilio_clear}, unmatched sessions {self.unmatched_sessions}, "
                f"late caller frames {self.phone_late_frames} of {self.phone_frames}",
            ]
        )


# --- the emulator processes ----------------------------------------------------------------------------------

Serve = Callable[[Endpoints, LoadOptions, asyncio.StreamReader], Awaitable[None]]
"""An emulator process's body: serve its emulator and answer `CommandLoop` requests until told to stop."""


class CommandLoop:
    """A worker's side of its pipe: one JSON request per stdin line, one JSON reply per stdout line."""

    def __init__(self, handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
        self._handlers = handlers

    async def serve(self, reader: asyncio.StreamReader) -> None:
        """Answer requests until `stop` or the end of the pipe."""
        while line := await reader.readline():
            request = json.loads(line)
            command = request.pop("cmd")
            if command == "stop":
                return
            reply = self._handlers[command](request)
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


async def _stdin() -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=2**24)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def say_ready(**details: Any) -> None:
    """Tell the load generator that the worker's emulator is serving."""
    sys.stdout.write(json.dumps({"ready": True, **details}) + "\n")
    sys.stdout.flush()


async def run_worker(serve: Serve) -> None:
    """An emulator process: its configuration is the first line on stdin, then `serve` answers commands."""
    commands = await _stdin()
    config = json.loads(await commands.readline())
    endpoints = Endpoints(**config["endpoints"])
    raw = config["options"]
    options = LoadOptions(
        **{**raw, "pause_s": tuple(raw["pause_s"]), "barge_in_after_s": tuple(raw["barge_in_after_s"])}
    )
    os.nice(options.nice)
    await serve(endpoints, options, commands)


class CalleePhone(Protocol):
    """What a callee needs of its phone, whichever emulator's it is."""

    @property
    def closed(self) -> bool:
        """Whether the call is over."""

    @property
    def buffer(self) -> PlayoutBuffer:
        """What plays to the caller."""

    @property
    def pacing(self) -> PacingStats:
        """How well the caller's frames kept to real time."""

    def agent_audible(self) -> bool:
        """Whether the agent is speaking to the caller now."""

    async def say(self, speech: npt.NDArray[np.int16]) -> Utterance:
        """Queue speech (PCM16 at 8 kHz) after what the caller is already saying."""


@dataclass(slots=True)
class _Callee:
    call_id: str
    phone: CalleePhone
    barge_ins: list[int] = field(default_factory=list)


class Callees:
    """Simulated callees, one per answered phone, each talking with the agent; what they did, for the reports."""

    def __init__(self, options: LoadOptions) -> None:
        self._options = options
        self._rng = random.Random(options.seed)
        self._lines = [synthesize(text, 8000, voice="synthetic") for text in CALLER_LINES]
        self._interjections = [synthesize(text, 8000, voice="synthetic") for text in INTERJECTIONS]
        self._wall_offset_s = time.time() - time.monotonic()
        self.callees: dict[str, _Callee] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Awaitable[None]) -> None:
        """Run `coroutine` as a task these callees own (cancelled by `aclose`)."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("a callee failed", exc_info=error)

    async def aclose(self) -> None:
        """Stop every callee."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def talk(self, call_id: str, phone: CalleePhone) -> None:
        """Be the callee of the platform's call `call_id` on the answered `phone`, until the call ends."""
        callee = _Callee(call_id, phone)
        self.callees[call_id] = callee
        with contextlib.suppress(CallEnded):
            await self._converse(callee)

    async def _converse(self, callee: _Callee) -> None:
        phone, rng, options = callee.phone, self._rng, self._options
        if await self._until_speaking(phone, timeout_s=15.0):  # the greeting
            await self._until_quiet(phone)
        while not phone.closed:
            await asyncio.sleep(rng.uniform(*options.pause_s))
            said = await phone.say(rng.choice(self._lines))
            await said.wait()
            if not await self._until_speaking(phone):
                continue
            if rng.random() < options.barge_in_share:
                await asyncio.sleep(rng.uniform(*options.barge_in_after_s))
                if phone.agent_audible() and not phone.closed:
                    callee.barge_ins.append(time.time_ns())
                    said = await phone.say(rng.choice(self._interjections))
                    await said.wait()
                    await self._until_speaking(phone)  # the answer to the interjection
            await self._until_quiet(phone)

    @staticmethod
    async def _until_speaking(phone: CalleePhone, timeout_s: float = 8.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not phone.closed and time.monotonic() < deadline:
            if phone.agent_audible():
                return True
            await asyncio.sleep(_POLL_S)
        return False

    @staticmethod
    async def _until_quiet(phone: CalleePhone, quiet_s: float = 0.4, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while not phone.closed and time.monotonic() < deadline:
            now = time.monotonic()
            if phone.agent_audible():
                quiet_since = now
            elif now - quiet_since >= quiet_s:
                return
            await asyncio.sleep(_POLL_S)

    def status(self, _: dict[str, Any]) -> dict[str, Any]:
        """`status`: the calls whose callee is still on the line."""
        return {"live": [c.call_id for c in self.callees.values() if not c.phone.closed]}

    def report(self, request: dict[str, Any]) -> dict[str, Any]:
        """`report`: clears the phones received, barge-ins spoken, caller frames sent and how many late."""
        since, until = int(request["since_ns"]), int(request.get("until_ns", time.time_ns()))
        clears: dict[str, list[int]] = {}
        frames = late = barge_ins = 0
        for callee in self.callees.values():
            buffer = callee.phone.buffer
            origin_s = buffer.origin + self._wall_offset_s
            at = [int((origin_s + clear.at_s) * 1e9) for clear in buffer.clears]
            clears[callee.call_id] = [ns for ns in at if ns >= since]
            barge_ins += sum(1 for ns in callee.barge_ins if since <= ns < until)
            frames += callee.phone.pacing.frames
            late += callee.phone.pacing.late_frames
        return {"clears": clears, "barge_ins": barge_ins, "frames": frames, "late_frames": late}


class _MediaStreamLine:
    """A Twilio phone as a callee sees it: the agent speaks while audio waits in the phone's buffer."""

    def __init__(self, phone: MediaStreamCall) -> None:
        self._phone = phone

    @property
    def closed(self) -> bool:
        return self._phone.closed

    @property
    def buffer(self) -> PlayoutBuffer:
        return self._phone.buffer

    @property
    def pacing(self) -> PacingStats:
        return self._phone.pacing

    def agent_audible(self) -> bool:
        return self._phone.buffer.queued_samples > 0

    async def say(self, speech: npt.NDArray[np.int16]) -> Utterance:
        return await self._phone.say(speech)


async def _follow_twilio_calls(emulator: TwilioRestEmulator, callees: Callees) -> None:
    """Give every call the Twilio emulator places a callee, once its media stream is up."""

    async def follow(call: EmulatedCall) -> None:
        try:
            phone = await call.wait_for_phone()
        except RuntimeError:
            return  # ended before its media stream connected
        await callees.talk(phone.custom_parameters.get("call_id", call.sid), _MediaStreamLine(phone))

    seen = 0
    while True:
        sids = list(emulator.calls)
        for sid in sids[seen:]:
            callees.spawn(follow(emulator.calls[sid]))
        seen = len(sids)
        await asyncio.sleep(0.1)


async def _serve_phones(endpoints: Endpoints, options: LoadOptions, commands: asyncio.StreamReader) -> None:
    emulator = TwilioRestEmulator(
        account_sid=endpoints.twilio_account_sid,
        auth_token=endpoints.twilio_auth_token,
        port=endpoints.twilio_port,
        media_routes={endpoints.public_edge_url: endpoints.edge_url},
        default_callee=Callee.answering(options.ring_s),
    )
    async with emulator:
        callees = Callees(options)
        await serve_callees(callees, _follow_twilio_calls(emulator, callees), emulator.base_url, commands)


async def serve_callees(
    callees: Callees,
    follow_calls: Coroutine[Any, Any, None],
    base_url: str,
    commands: asyncio.StreamReader,
) -> None:
    """Serve one worker's callees until told to stop, then close every one.

    `follow_calls` hands each new call to `callees`; the worker says ready with the emulator's `base_url`, then
    answers `status` and `report`.
    """
    watcher = asyncio.create_task(follow_calls)
    say_ready(base_url=base_url)
    try:
        await CommandLoop({"status": callees.status, "report": callees.report}).serve(commands)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await callees.aclose()


class _SpeechStarts(list[RecordedEvent]):
    """Stands in for a session's event log and keeps only when each `speech_started` was decided (wall ns).

    That is when the client event it answers arrived: the emulator records a client event as soon as it has parsed
    it, then runs its VAD on the audio and sends `speech_started` at once. (A sent event is recorded only once the
    send has returned, which may be after the agent already acted on it.) A long run would otherwise hold every
    audio event of every session.
    """

    def __init__(self, sink: list[int]) -> None:
        super().__init__()
        self._sink = sink
        self._client_event_ns = 0

    def append(self, event: RecordedEvent, /) -> None:
        if event.direction == "client":
            self._client_event_ns = time.time_ns()
        elif event.type == SPEECH_STARTED:
            self._sink.append(self._client_event_ns)


class _Model:
    """The OpenAI Realtime emulator with a session-tagged script per session."""

    def __init__(self, options: LoadOptions) -> None:
        rng = random.Random(options.seed + 1)
        self.script = Script(greeting=GREETING, responder=lambda _: rng.choice(REPLIES))
        self.speech_started: dict[str, list[int]] = {}

    async def watch(self, emulator: OpenAIRealtimeEmulator) -> None:
        """Give every new session its own caller transcript (naming the session) and a lean event log."""
        index = 0
        while True:
            session = await emulator.wait_for_session(index)
            index += 1
            marker = f"{CALLER_LINES[0]} [session {session.id}]"
            session.script = dataclasses.replace(self.script, unscripted_transcript=marker)
            session.events = _SpeechStarts(self.speech_started.setdefault(session.id, []))

    def report(self, request: dict[str, Any]) -> dict[str, Any]:
        since = int(request["since_ns"])
        return {
            "speech_started": {
                session: [ns for ns in times if ns >= since]
                for session, times in self.speech_started.items()
                if times and times[-1] >= since
            }
        }


async def _serve_model(endpoints: Endpoints, options: LoadOptions, commands: asyncio.StreamReader) -> None:
    model = _Model(options)
    emulator = OpenAIRealtimeEmulator(
        script=model.script,
        behaviour=Behaviour(first_delta_latency_s=options.model_think_s, speech="synthetic"),
        api_key=endpoints.openai_api_key,
        port=endpoints.openai_port,
    )
    async with emulator:
        watcher = asyncio.create_task(model.watch(emulator))
        say_ready(base_url=emulator.base_url)
        try:
            await CommandLoop({"report": model.report}).serve(commands)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


# --- this process: the workers' pipes, the bus tap, the calls ------------------------------------------------


class _Worker:
    """One emulator process (`python -m <module> --worker <role>`) and its pipe."""

    def __init__(self, role: str, log: Path | None, module: str = "switchboard.sim.loadgen") -> None:
        self.role = role
        self._module = module
        self._log_path = log
        self._log: IO[bytes] | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    async def start(self, endpoints: Endpoints, options: LoadOptions) -> None:
        if self._log_path is not None:
            self._log = await asyncio.to_thread(self._log_path.open, "ab")  # closed in `stop`
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self._module,
            "--worker",
            self.role,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log,  # None: this process's stderr
        )
        config = {"endpoints": dataclasses.asdict(endpoints), "options": dataclasses.asdict(options)}
        await self._send(config)
        await self._receive(timeout_s=30.0)

    async def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        async with self._lock:
            await self._send({"cmd": command, **arguments})
            return await self._receive(timeout_s=30.0)

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(json.dumps(message).encode() + b"\n")
        await self._process.stdin.drain()

    async def _receive(self, timeout_s: float) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), timeout_s)
        except TimeoutError:
            line = b""
        if not line:
            raise RuntimeError(f"the {self.role} emulator process did not answer{self._log_hint()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _log_hint(self) -> str:
        return f" (its log: {self._log_path})" if self._log_path else ""

    async def stop(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send({"cmd": "stop"})
            try:
                await asyncio.wait_for(process.wait(), 15.0)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()


class _Tap:
    """Times audio frames on the bus for a sample of calls, and records every agent clear and session marker."""

    def __init__(self, bus: Bus, caller_format: AudioFormat, agent_format: AudioFormat) -> None:
        self._bus = bus
        self._caller_format = caller_format
        self._agent_format = agent_format
        self.recording = False
        self.caller_ms: list[float] = []
        self.agent_ms: list[float] = []
        self.clears: dict[str, list[tuple[int, int]]] = {}
        """Per call: (ts_ns, generation) of every `ctl.clear`."""
        self.finals: dict[str, list[tuple[int, int]]] = {}
        """Per call: (ts_ns, generation) of every final `ctl.playout`."""
        self.call_of_session: dict[str, str] = {}
        self.followed: set[str] = set()

    async def start(self) -> None:
        await self._bus.subscribe_control_of_every_call(self._on_control, Clear.type_name())
        await self._bus.subscribe_control_of_every_call(self._on_control, Playout.type_name())
        await self._bus.nc.subscribe(
            subjects.event(subjects.ANY, TranscriptTurn.type_name()), cb=self._on_transcript
        )

    async def follow(self, call_id: str) -> None:
        """Time every frame of this call, both ways."""
        self.followed.add(call_id)
        nc = self._bus.nc
        await nc.subscribe(
            subjects.audio(call_id, Direction.IN, self._caller_format), cb=self._timer(self.caller_ms)
        )
        await nc.subscribe(
            subjects.audio(call_id, Direction.OUT, self._agent_format), cb=self._timer(self.agent_ms)
        )

    def _timer(self, sink: list[float]) -> Callable[[Msg], Awaitable[None]]:
        decode = self._bus.frames.decode

        async def on_frame(msg: Msg) -> None:
            now = time.time_ns()
            if self.recording:
                try:
                    sink.append((now - decode(msg.data).ingest_ns) / 1e6)
                except SwitchboardError:
                    pass

        return on_frame

    async def _on_control(self, call_id: str, message: Control) -> None:
        if isinstance(message, Clear):
            self.clears.setdefault(call_id, []).append((message.ts_ns, message.generation))
        elif isinstance(message, Playout) and message.final:
            self.finals.setdefault(call_id, []).append((message.ts_ns, message.generation))

    async def _on_transcript(self, msg: Msg) -> None:
        try:
            event = self._bus.events.decode(msg.data)
        except SwitchboardError:
            return
        if isinstance(event, TranscriptTurn) and (found := _MARKER.search(event.text)):
            self.call_of_session[found.group(1)] = subjects.call_id_of(msg.subject)


class LoadGenerator:
    """Starts the emulator processes and the bus tap; sets the number of calls; measures windows.

    ```python
    async with LoadGenerator(endpoints, LoadOptions()) as load:   # before the platform needs Twilio/OpenAI
        up = await load.set_calls(50)
        await load.start_window()
        await asyncio.sleep(20)
        report = await load.end_window()
    ```
    """

    def __init__(self, endpoints: Endpoints, options: LoadOptions | None = None) -> None:
        self.endpoints = endpoints
        self.options = options or LoadOptions()
        log_dir = Path(self.options.log_dir) if self.options.log_dir else None
        self._phones = _Worker(
            "phones",
            log_dir / "loadgen-phones.log" if log_dir else None,
            "switchboard.sim.loadgen_livekit"
            if self.options.transport == "livekit"
            else "switchboard.sim.loadgen",
        )
        self._model = _Worker("model", log_dir / "loadgen-model.log" if log_dir else None)
        self._http: aiohttp.ClientSession | None = None
        self._bus: Bus | None = None
        self._tap: _Tap | None = None
        self._placed: list[str] = []
        self._hung_up: set[str] = set()
        self._window: tuple[int, dict[str, Any], int] | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def pids(self) -> dict[str, int]:
        """The emulator processes: `loadgen-phones` (Twilio or LiveKit, and the phones), `loadgen-model` (OpenAI)."""
        return {"loadgen-phones": self._phones.pid, "loadgen-model": self._model.pid}

    async def start(self) -> None:
        """Serve Twilio and OpenAI on their ports (the platform may start once this returns)."""
        await self._phones.start(self.endpoints, self.options)
        await self._model.start(self.endpoints, self.options)
        self._http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.endpoints.api_key}"},
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def connect_bus(self) -> None:
        """Start tapping the bus (once NATS is up)."""
        metrics = BusMetrics(new_registry())
        nc = await connect(BusOptions(url=self.endpoints.nats_url, name="loadgen-tap"), metrics)
        self._bus = Bus(nc, metrics)
        agent_in, agent_out = PROVIDER_AUDIO["openai"]
        self._tap = _Tap(
            self._bus, agent_in, agent_out if self.options.edge_transcodes else AudioFormat.PCMU8K
        )
        await self._tap.start()

    async def stop(self) -> None:
        """Stop the workers (their calls end) and close the tap."""
        await self._phones.stop()
        await self._model.stop()
        if self._http is not None:
            await self._http.close()
        if self._bus is not None:
            with contextlib.suppress(Exception):
                await self._bus.nc.drain()

    # --- calls -------------------------------------------------------------------------------------------

    async def live_calls(self) -> list[str]:
        """The calls whose phone is connected, oldest first."""
        live = set((await self._phones.request("status"))["live"])
        return [call_id for call_id in self._placed if call_id in live]

    async def set_calls(self, count: int, *, timeout_s: float | None = None) -> int:
        """Place or hang up calls until `count` are up (or `timeout_s` passed); returns how many are up."""
        if self._tap is None:
            await self.connect_bus()
        live = await self.live_calls()
        if len(live) > count:
            await self._paced([self._hang_up(call_id) for call_id in reversed(live[count:])])
        elif len(live) < count:
            await self._paced([self._place_one() for _ in range(count - len(live))])
        deadline = time.monotonic() + (timeout_s or 20.0 + count / self.options.ramp_per_s * 2)
        while True:
            up = len(await self.live_calls())
            if up == count or time.monotonic() > deadline:
                return up
            await asyncio.sleep(0.5)

    async def _paced(self, requests: list[Coroutine[Any, Any, None]]) -> None:
        """Start the API requests `ramp_per_s` a second, and wait for them all."""
        interval = 1.0 / self.options.ramp_per_s
        async with asyncio.TaskGroup() as group:
            for request in requests:
                group.create_task(request)
                await asyncio.sleep(interval)

    async def _place_one(self) -> None:
        assert self._http is not None and self._tap is not None
        options = self.options
        body = {"to": options.callee_number, "profile": options.profile, "transport": options.transport}
        for attempt in range(5):
            try:
                async with self._http.post(f"{self.endpoints.api_url}/v1/calls", json=body) as response:
                    if response.status == 201:
                        call_id = str((await response.json())["call_id"])
                        self._placed.append(call_id)
                        if len(self._tap.followed - self._hung_up) < self.options.tap_calls:
                            await self._tap.follow(call_id)
                        return
                    logger.warning("placing a call: HTTP %s %s", response.status, await response.text())
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.warning("placing a call failed: %s", exc)
            await asyncio.sleep(0.5 * (attempt + 1))

    async def _hang_up(self, call_id: str) -> None:
        assert self._http is not None
        self._hung_up.add(call_id)
        url = f"{self.endpoints.api_url}/v1/calls/{call_id}/hangup"
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._http.post(url) as response:
                if response.status >= 300:
                    logger.warning("hanging up %s: HTTP %s", call_id, response.status)

    # --- measuring ---------------------------------------------------------------------------------------

    async def start_window(self) -> None:
        """Start recording."""
        assert self._tap is not None
        self._tap.caller_ms.clear()
        self._tap.agent_ms.clear()
        self._tap.recording = True
        start_ns = time.time_ns()
        phones = await self._phones.request("report", since_ns=start_ns)
        self._window = (start_ns, phones, len(await self.live_calls()))

    async def end_window(self, grace_s: float = 2.0) -> WindowReport:
        """Stop recording and put together what the window saw.

        A barge-in counts when the model's speech started inside the window; its `ctl.clear` is the first of the
        call after it, before the model's next speech start and within 2 s; its Twilio `clear` (at the edge, at
        the phone) the first within 2 s of that. On a LiveKit call the edge's flush is the source's `clear_queue()`
        (the final `ctl.playout` of the cleared generation marks it) and the phone is told nothing. They are
        looked for up to `grace_s` after the window's end.
        """
        assert self._tap is not None and self._window is not None
        tap = self._tap
        tap.recording = False
        end_ns = time.time_ns()
        start_ns, phones_before, calls = self._window
        report = WindowReport(
            calls=calls,
            calls_at_end=len(await self.live_calls()),
            seconds=(end_ns - start_ns) / 1e9,
            caller_ms=list(tap.caller_ms),
            agent_ms=list(tap.agent_ms),
        )
        await asyncio.sleep(grace_s)
        phones = await self._phones.request("report", since_ns=start_ns, until_ns=end_ns)
        model = await self._model.request("report", since_ns=start_ns)
        twilio = self.options.transport == "twilio"
        report.barge_ins_spoken = phones["barge_ins"]
        report.phone_frames = phones["frames"] - phones_before["frames"]
        report.phone_late_frames = phones["late_frames"] - phones_before["late_frames"]
        for session, starts in model["speech_started"].items():
            call_id = tap.call_of_session.get(session)
            if call_id is None:
                report.unmatched_sessions += any(ns < end_ns for ns in starts)
                continue
            clears, finals = sorted(tap.clears.get(call_id, [])), sorted(tap.finals.get(call_id, []))
            at_phone = sorted((ns, 0) for ns in phones["clears"].get(call_id, []))
            for started, next_start in zip(starts, [*starts[1:], end_ns + _REACTION_WITHIN_NS], strict=True):
                if started >= end_ns:
                    break
                clear = _first_between(clears, started, min(next_start, started + _REACTION_WITHIN_NS))
                if clear is None:
                    continue  # nothing of the agent's was playing: not a barge-in
                published, generation = clear
                report.barge_in_agent_ms.append((published - started) / 1e6)
                until = published + _REACTION_WITHIN_NS
                if twilio:  # a SIP phone is told nothing: the edge flushes its own source
                    heard = _first_between(at_phone, published, until)
                    if heard is None:
                        report.clears_without_twilio_clear += 1
                        continue
                    report.barge_in_phone_ms.append((heard[0] - started) / 1e6)
                written = _first_between(finals, published, until, generation)
                if written is not None:
                    report.barge_in_ms.append((written[0] - started) / 1e6)
        return report


def _first_between(
    times: Sequence[tuple[int, int]], start: int, end: int, generation: int | None = None
) -> tuple[int, int] | None:
    """The first (ts_ns, generation) of sorted `times` in [start, end) (of `generation`, when given)."""
    return next(
        ((ns, g) for ns, g in times if start <= ns < end and generation in (None, g)),
        None,
    )


# --- command line ----------------------------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m switchboard.sim.loadgen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--worker", choices=("phones", "model"), help=argparse.SUPPRESS)
    parser.add_argument("--api", default="http://127.0.0.1:8080", help="call-control's base URL")
    parser.add_argument("--api-key", default="dev-api-key-0123456789")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--edge", default="ws://127.0.0.1:8081", help="where the phones dial the edge")
    parser.add_argument("--public-edge", default="wss://edge.switchboard.local", help="the edge in TwiML")
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="emulator-auth-token")
    parser.add_argument("--twilio-port", type=int, default=9400)
    parser.add_argument("--openai-key", default="dev-openai-key")
    parser.add_argument("--openai-port", type=int, default=9401)
    parser.add_argument("--profile", default="receptionist-openai")
    parser.add_argument("--calls", default="10", help="comma-separated numbers of calls, one window each")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each window")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between ramping and measuring")
    parser.add_argument("--wait", action="store_true", help="wait for Enter before placing calls")
    return parser.parse_args(argv)


async def _run(arguments: argparse.Namespace) -> None:
    endpoints = Endpoints(
        api_url=arguments.api.rstrip("/"),
        api_key=arguments.api_key,
        nats_url=arguments.nats,
        edge_url=arguments.edge,
        public_edge_url=arguments.public_edge,
        twilio_account_sid=arguments.account_sid,
        twilio_auth_token=arguments.auth_token,
        twilio_port=arguments.twilio_port,
        openai_api_key=arguments.openai_key,
        openai_port=arguments.openai_port,
    )
    async with LoadGenerator(endpoints, LoadOptions(profile=arguments.profile)) as load:
        _say(f"Twilio on :{endpoints.twilio_port}, OpenAI on :{endpoints.openai_port}")
        if arguments.wait:
            _say("start the platform, then press Enter")
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        for count in (int(text) for text in arguments.calls.split(",")):
            up = await load.set_calls(count)
            await asyncio.sleep(arguments.settle)
            await load.start_window()
            await asyncio.sleep(arguments.seconds)
            report = await load.end_window()
            _say(report.summary() if up == count else f"only {up} of {count} calls up\n{report.summary()}")
        await load.set_calls(0)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> None:
    """Run a worker (internal), or measure windows against a running platform."""
    arguments = _arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("switchboard.common.bus.connection").setLevel(logging.ERROR)  # the tap's own close
    if arguments.worker:
        uvloop.run(run_worker(_serve_phones if arguments.worker == "phones" else _serve_model))
    else:
        uvloop.run(_run(arguments))


if __name__ == "__main__":
    main()
