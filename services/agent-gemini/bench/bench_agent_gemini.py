"""Benchmark of the Gemini agent: CPU per call-second, barge-in reaction, and the goAway reconnection gap.

    uv run python services/agent-gemini/bench/bench_agent_gemini.py [--calls 50] [--seconds 10]

This process runs only the agent service (the real `AgentService` with `GeminiSession`s, on uvloop, on its own
NATS connection), so its CPU time is the agent's. A child process (this file with `--driver`) runs the Gemini
Live emulator and plays every caller and the media edge: each call streams caller audio in 20 ms frames without
pause (speech, then silence), the model answers at 1.5x real time, and the next utterance starts while it is
still speaking, so every cycle ends in a barge-in (`interrupted` → `ctl.clear` → the edge's final playout →
the heard-text note). nats-server is a third process.

Figures:
- agent CPU per call-second: this process's CPU time during the conversation window / (calls x seconds).
- interrupted → clear, in the agent: the call agent's own measure (`switchboard_agent_clear_latency_seconds`),
  from the session handing it the barge-in to `ctl.clear` published.
- interrupted → clear, end to end: from the emulator writing `interrupted` to the socket to the edge (the
  driver) receiving `ctl.clear` (TLS WebSocket, SDK parsing, the agent, NATS); both stamps are in the driver.
- goAway gap: per session, from the agent leaving the old connection (then closing it) to the new one's
  `setupComplete` (`GeminiSession.reconnect_gaps_s`): for one call alone, then for every other call at once
  with every line streaming; and the caller audio lost meanwhile (none: it is kept and sent on the new
  connection). Each figure is a few round trips through two busy event loops, so it grows with the load of
  the machine.
- agent event-loop lag: how late the agent's loop wakes a 10 ms sleeper during the window; the end-to-end
  clear latency cannot be lower.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import uvloop
from nats.aio.msg import Msg
from pydantic import SecretStr

from switchboard.agent_gemini.service import CAPABILITIES, make_client
from switchboard.agent_gemini.session import GeminiSession, GeminiSessionOptions
from switchboard.agent_gemini.settings import AgentGeminiSettings
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.model_session import ModelSession, SessionEvents
from switchboard.common.agent.service import AgentService
from switchboard.common.agent.tools import ToolSpec
from switchboard.common.bus import subjects
from switchboard.common.bus.attach import request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect, ensure_jetstream
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import Clear, Control, MediaStopped, Playout
from switchboard.common.profiles import Profile, ProfileStore
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.nats_server import EmbeddedNats

API_KEY = "bench-key"
PROFILE = Profile(
    name="bench-gemini",
    provider="gemini",
    model="gemini-2.5-flash-native-audio-preview-12-2025",
    instructions="You are a receptionist. Be brief.",
    greeting="Greet the caller.",
    voice="Kore",
)
RATE = 16_000
FRAME_MS = 20
SPEECH_S, PAUSE_S = (
    1.2,
    2.0,
)  # each caller cycle; the model's answer is still playing when the next one starts


# --- the agent (this process) ---------------------------------------------------------------------------------


class RecordingMetrics(AgentMetrics):
    """The agent's metrics, keeping each clear latency too (the histogram only has buckets)."""

    def __init__(self) -> None:
        super().__init__(new_registry(), "gemini")
        self.clears: list[float] = []

    def clear_latency(self, seconds: float) -> None:
        self.clears.append(seconds)
        super().clear_latency(seconds)


async def probe_loop_lag(lags: list[float], interval_s: float = 0.01) -> None:
    """How late this event loop wakes a sleeper: the delay any callback (a barge-in) waits behind others."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        lags.append(max(0.0, loop.time() - due))


class Driver:
    """The child process, spoken to in JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the driver stopped")
        return dict(json.loads(line))

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()


async def bench(calls: int, seconds: float) -> dict[str, Any]:
    with EmbeddedNats() as nats, tempfile.TemporaryDirectory() as tmp:
        ca_file = Path(tmp) / "ca.pem"
        bus_metrics = BusMetrics(new_registry())
        nc = await connect(BusOptions(url=nats.url, name="agent-gemini-bench"), bus_metrics)
        await ensure_jetstream(nc.jetstream())
        bus = Bus(nc, bus_metrics)
        profiles = ProfileStore(await bus.js.key_value(subjects.PROFILES_BUCKET))
        await profiles.put(PROFILE)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--driver",
            f"--nats={nats.url}",
            f"--calls={calls}",
            f"--seconds={seconds}",
            f"--ca-file={ca_file}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        driver = Driver(process)
        base_url = (await driver.read())["ready"]
        settings = AgentGeminiSettings(
            api_key=SecretStr(API_KEY),
            base_url=base_url,
            ca_file=ca_file,
            capacity=calls + 1,
            drain_timeout_s=2.0,
            instance_id="agent-gemini-bench",
        )
        client = make_client(settings)
        options = GeminiSessionOptions.from_settings(settings)
        sessions: list[GeminiSession] = []

        def session_factory(
            profile: Profile, events: SessionEvents, call_id: str, tools: Sequence[ToolSpec]
        ) -> ModelSession:
            session = GeminiSession(client, profile, events, call_id=call_id, options=options, tools=tools)
            sessions.append(session)
            return session

        metrics = RecordingMetrics()
        service = AgentService(bus, settings, CAPABILITIES, session_factory, profiles, metrics)
        stop = asyncio.Event()
        serving = asyncio.create_task(service.run(stop))
        lags: list[float] = []
        try:
            await driver.send("go")
            assert (await driver.read())["window"] == "start"
            cpu0, wall0 = time.process_time(), time.perf_counter()
            probe = asyncio.create_task(probe_loop_lag(lags))
            assert (await driver.read())["window"] == "end"
            cpu1, wall1 = time.process_time(), time.perf_counter()
            probe.cancel()
            clears_in_window = list(metrics.clears)

            await driver.send("go_away_one")
            assert (await driver.read())["go_away"] == "one"
            alone = [gap for s in sessions[:1] for gap in s.reconnect_gaps_s]
            await driver.send("go_away_rest")
            assert (await driver.read())["go_away"] == "rest"
            together = [gap for s in sessions[1:] for gap in s.reconnect_gaps_s]
            lost_ms = sum(s.audio_dropped_ms for s in sessions)

            await driver.send("stop")
            results = await driver.read()
        finally:
            stop.set()
            await asyncio.wait_for(serving, 30)
            await nc.drain()
            if process.returncode is None:
                await asyncio.wait_for(process.wait(), 30)
    window_s = wall1 - wall0
    return {
        "calls": calls,
        "window_s": window_s,
        "cpu_s": cpu1 - cpu0,
        "cpu_ms_per_call_second": (cpu1 - cpu0) * 1000 / (calls * window_s),
        "clears_agent_ms": [c * 1000 for c in clears_in_window],
        "loop_lag_ms": [lag * 1000 for lag in lags],
        "reconnects": sum(s.reconnects for s in sessions),
        "go_away_alone_ms": [g * 1000 for g in alone],
        "go_away_together_ms": [g * 1000 for g in together],
        "audio_lost_ms": lost_ms,
        **results,
    }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(r: dict[str, Any]) -> None:
    clears, e2e = r["clears_agent_ms"], r["clears_e2e_ms"]
    alone, together = r["go_away_alone_ms"], r["go_away_together_ms"]
    rows = [
        ("calls x window", f"{r['calls']} x {r['window_s']:.1f} s"),
        ("agent CPU in the window", f"{r['cpu_s']:.2f} s"),
        ("agent CPU per call-second", f"{r['cpu_ms_per_call_second']:.2f} ms ({r['cpu_ms_per_call_second'] / 10:.2f} % of a core per call)"),
        ("agent event-loop lag p50 / p99", f"{percentile(r['loop_lag_ms'], 50):.2f} / {percentile(r['loop_lag_ms'], 99):.2f} ms"),
        ("driver CPU (emulator, callers, edge)", f"{r['driver_cpu_share'] * 100:.0f} % of a core"),
        ("caller audio frames sent / agent frames received", f"{r['frames_in']} / {r['frames_out']}"),
        ("barge-ins (interrupted sent / ctl.clear received)", f"{r['interrupted']} / {len(e2e)}"),
        ("interrupted -> ctl.clear, in the agent p50 / p99", f"{percentile(clears, 50):.3f} / {percentile(clears, 99):.3f} ms"),
        ("interrupted -> ctl.clear, end to end p50 / p99", f"{percentile(e2e, 50):.2f} / {percentile(e2e, 99):.2f} ms"),
        ("goAway: no connection, 1 call (other lines quiet)", f"{statistics.median(alone):.1f} ms" if alone else "n/a"),
        (f"goAway: no connection, {len(together)} calls at once (all lines streaming) p50 / max", f"{percentile(together, 50):.1f} / {max(together, default=float('nan')):.1f} ms"),
        ("caller audio lost across goAway", f"{r['audio_lost_ms']:.0f} ms"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(
        f"\nagent-gemini: {r['calls']} calls against the Gemini Live emulator, caller speech with barge-ins"
    )
    print(f"| {'figure'.ljust(width)} | value")
    print(f"|-{'-' * width}-|------")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value}")


# --- the driver (child process): the emulator, the callers and the edge ---------------------------------------


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def read_command() -> str:
    line = await asyncio.to_thread(sys.stdin.readline)
    return str(line).strip()


class Line:
    """One caller and the edge's view of the call: generations sent, the time each began, clears."""

    def __init__(self, call_id: str, offset_frames: int) -> None:
        self.call_id = call_id
        self.offset = offset_frames
        self.seq = 0
        self.sent_ms: dict[int, float] = {}
        self.first_at: dict[int, float] = {}
        self.clears: list[tuple[float, int]] = []


async def drive(nats_url: str, calls: int, seconds: float, ca_file: Path) -> None:
    from switchboard.sim.gemini_live import GeminiLiveConfig, GeminiLiveEmulator, GeminiScript
    from switchboard.sim.speech import silence, synthesize
    from switchboard.sim.stand_in_edge import StandInEdge

    script = GeminiScript(
        greeting="Hello, how can I help?",
        replies=lambda request: "Of course. Let me look at the calendar for you and find a good time.",
        caller_transcripts=(),
        fallback_transcript="I would like an appointment.",
    )
    config = GeminiLiveConfig(
        api_key=API_KEY,
        time_to_first_chunk_s=0.3,
        realtime_factor=1.5,
        min_reply_s=4.0,
        voice="synthetic",
        record_audio=False,
    )
    async with GeminiLiveEmulator(script, config) as gemini:
        gemini.write_ca_pem(ca_file)
        emit({"ready": gemini.base_url})
        assert await read_command() == "go"
        nc = await connect(BusOptions(url=nats_url, name="bench-driver"), BusMetrics(new_registry()))
        bus = Bus(nc, BusMetrics(new_registry()))
        speech = synthesize("I would like an appointment please", RATE, voice="synthetic")[
            : int(SPEECH_S * RATE)
        ]
        cycle = np.concatenate([speech, silence(SPEECH_S - speech.size / RATE + PAUSE_S, RATE)])
        frame = RATE * FRAME_MS // 1000
        frames = [
            cycle[i : i + frame].astype("<i2").tobytes() for i in range(0, cycle.size - frame + 1, frame)
        ]
        quiet = bytes(frame * 2)
        lines = {f"bench-{i}": Line(f"bench-{i}", (i * 7) % len(frames)) for i in range(calls)}
        counts = {"in": 0, "out": 0}

        async def on_audio(msg: Msg) -> None:
            decoded = bus.frames.decode(msg.data)
            line = lines[decoded.call_id]
            gen = decoded.generation
            line.first_at.setdefault(gen, time.monotonic())
            line.sent_ms[gen] = line.sent_ms.get(gen, 0.0) + AudioFormat.PCM24K.duration_ms(
                len(decoded.payload)
            )
            counts["out"] += 1

        async def on_control(call_id: str, message: Control) -> None:
            if isinstance(message, Clear):
                line = lines[call_id]
                now = time.monotonic()
                line.clears.append((now, message.generation))
                heard = (now - line.first_at.get(message.generation, now)) * 1000
                played = int(min(line.sent_ms.get(message.generation, 0.0), heard))
                await bus.publish_control(
                    call_id, Playout(generation=message.generation, played_ms=played, final=True)
                )

        await nc.subscribe(subjects.audio(subjects.ANY, Direction.OUT, AudioFormat.PCM24K), cb=on_audio)
        await bus.subscribe_control_of_every_call(on_control, Clear.type_name())
        edge = StandInEdge(bus)
        await edge.start()
        for index, call_id in enumerate(lines):
            request = await edge.claim(call_id, PROFILE.name, agent_in_format=AudioFormat.PCM16K)
            assert (await request_attach(bus, subjects.agent_attach("gemini"), request)).accepted
            await asyncio.wait_for(gemini.wait_for_session(index), 10)
        sessions = dict(zip(lines, gemini.sessions, strict=True))
        for session in sessions.values():
            await asyncio.wait_for(session.wait_for(lambda s: s.completed_turns >= 1), 20)

        async def stream(callers: Iterable[Line], duration_s: float, *, speak: bool) -> None:
            callers = list(callers)
            started = time.monotonic()
            tick = 0
            while time.monotonic() - started < duration_s:
                for line in callers:
                    payload = frames[(line.offset + tick) % len(frames)] if speak else quiet
                    audio = AudioFrame(
                        line.call_id, line.seq, line.seq * FRAME_MS, time.time_ns(), 0, payload
                    )
                    line.seq += 1
                    await bus.publish_frame(line.call_id, Direction.IN, AudioFormat.PCM16K, audio)
                    counts["in"] += 1
                tick += 1
                await asyncio.sleep(max(0.0, started + tick * FRAME_MS / 1000 - time.monotonic()))

        emit({"window": "start"})
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await stream(lines.values(), seconds, speak=True)
        driver_cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        emit({"window": "end"})
        frames_in, frames_out = counts["in"], counts["out"]

        # goAway once the model is quiet: first for one call alone (only its line streaming, in real time: none
        # of its audio may be lost), then for every other call at once, every line streaming.
        quiet_turns = lambda s: s.completed_turns + s.interruptions >= s.model_turns  # noqa: E731
        for session in sessions.values():
            await asyncio.wait_for(session.wait_for(quiet_turns), 20)
        (first_line, first), *rest = sessions.items()
        assert await read_command() == "go_away_one"
        async with asyncio.TaskGroup() as tasks:
            streaming = tasks.create_task(stream([lines[first_line]], 3600, speak=False))
            await gemini.go_away(5.0, session=first)
            await asyncio.wait_for(first.wait_for(lambda s: s.resumptions >= 1), 10)
            await asyncio.sleep(0.2)
            streaming.cancel()
        emit({"go_away": "one"})
        assert await read_command() == "go_away_rest"
        async with asyncio.TaskGroup() as tasks:
            streaming = tasks.create_task(stream([lines[call_id] for call_id, _ in rest], 3600, speak=False))
            for _, session in rest:
                await gemini.go_away(5.0, session=session)
            for _, session in rest:
                await asyncio.wait_for(session.wait_for(lambda s: s.resumptions >= 1), 20)
            await asyncio.sleep(0.5)
            streaming.cancel()
        emit({"go_away": "rest"})

        assert await read_command() == "stop"
        e2e: list[float] = []
        interrupted = 0
        for call_id, session in sessions.items():
            sent = [
                m.at
                for m in session.server_messages("serverContent")
                if m.body["serverContent"].get("interrupted")
            ]
            interrupted += len(sent)
            for at in sent:
                # The clear this interruption caused (none when nothing of the agent was playing).
                received = [t for t, _ in lines[call_id].clears if at <= t < at + 0.5]
                if received:
                    e2e.append((min(received) - at) * 1000)
        for call_id in lines:
            await bus.publish_event(call_id, MediaStopped(reason="bench over"))
        await edge.stop()
        await nc.drain()
        emit(
            {
                "clears_e2e_ms": e2e,
                "interrupted": interrupted,
                "frames_in": frames_in,
                "frames_out": frames_out,
                "driver_cpu_share": driver_cpu_share,
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        uvloop.run(drive(args.nats, args.calls, args.seconds, args.ca_file))
        return
    report(uvloop.run(bench(args.calls, args.seconds)))


if __name__ == "__main__":
    main()
