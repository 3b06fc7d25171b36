"""Media-edge benchmark: N simulated Twilio calls through the edge and NATS, with the stand-in agent talking.

    uv run python services/media-edge/bench/bench_edge.py --streams 200 --seconds 10

Processes: nats-server, the edge (measured: `switchboard-media-edge`), the stand-in agent, the transcoder (with
`--transcode service` only: by default the edge converts μ-law itself, as in production), and the simulated phones (one process, or `--phone-procs`); this process seeds the call records and subscribes to
the caller audio to measure ingest→bus latency. Every call streams caller audio (50 messages a second, as
Twilio does); the agent answers in 2 s turns published faster than real time, paced to the phone by the edge
with a mark per chunk, and interrupts about half of them with `ctl.clear` (barge-in).

Reported: the edge's CPU time per Twilio message (in + out), ingest→bus latency (frame.ingest_ns to receipt
here), clear reaction inside the edge (ctl.clear received → Twilio `clear` written, from its histogram), and
the clear end to end (agent publishes → phone receives, which includes the phones' own scheduling).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop
from nats.aio.msg import Msg
from prometheus_client.parser import text_string_to_metric_families

from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect, ensure_jetstream
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import FrameCodec
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.calls.store import CallStore
from switchboard.common.profiles import Profile, ProfileStore
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.common.security.stream_token import stream_token
from switchboard.devkit.nats_server import free_port, nats_server_binary

AUTH_TOKEN = "bench-auth-token"
STREAM_SECRET = "bench-stream-secret"
PUBLIC_URL = "wss://edge.bench.invalid/twilio/stream"
PROFILE = "bench-openai"
TURN_S = 2.0
SETTLE_S = 3.0  # the transcoder compiles its kernels on its first frames
PHONES_RAMP_S = 2.0
TARGET_INGEST_P99_MS = 2.0
TARGET_CLEAR_P99_MS = 5.0
SCRIPT = str(Path(__file__).resolve())


def call_ids(count: int, first: int = 0) -> list[str]:
    return [f"bench-{index:04d}" for index in range(first, first + count)]


# --- the phones (a role of this script, in a process of its own) ---------------------------------------------


async def run_phones(url: str, ids: list[str], ramp_s: float) -> dict[str, Any]:
    """Dial every call (spread over `ramp_s`), talk until a line arrives on stdin, then report and hang up."""
    from switchboard.sim.phone import MediaStreamCall

    calls = [
        MediaStreamCall(
            url,
            auth_token=AUTH_TOKEN,
            public_url=PUBLIC_URL,
            custom_parameters={"call_id": call_id, "token": stream_token(STREAM_SECRET, call_id)},
        )
        for call_id in ids
    ]
    for index, call in enumerate(calls):
        await call.open()
        await asyncio.sleep(ramp_s / len(calls) if index < len(calls) - 1 else 0)
    wall_origin = {id(call): time.time() - (time.monotonic() - call.buffer.origin) for call in calls}
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    results: dict[str, Any] = {
        "clears": {},
        "late_frames": 0,
        "max_lateness_ms": 0.0,
        "errors": 0,
        "heard_ms": 0.0,
    }
    for call_id, call in zip(ids, calls, strict=True):
        report = call.report()
        results["clears"][call_id] = [wall_origin[id(call)] + clear.at_s for clear in call.buffer.clears]
        results["late_frames"] += report.late_frames
        results["max_lateness_ms"] = max(results["max_lateness_ms"], report.max_lateness_ms)
        results["errors"] += len(report.protocol_errors)
        results["heard_ms"] += report.heard_ms
    await asyncio.gather(*(call.hang_up(raise_failures=False) for call in calls))
    return results


# --- the agent (a role too) ----------------------------------------------------------------------------------


async def run_agent(nats_url: str, streams: int, clear_ratio: float) -> dict[str, Any]:
    """Serve the calls until a line arrives on stdin, then print what was done."""
    from switchboard.sim.stand_in_agent import AgentCall, StandInAgent, StandInOptions

    metrics = BusMetrics(new_registry())
    nc = await connect(BusOptions(url=nats_url, name="bench-agent"), metrics)
    agent = StandInAgent(Bus(nc, metrics), StandInOptions(provider="openai", capacity=streams * 2))
    await agent.start()
    clears: dict[str, list[float]] = {}
    rng = random.Random(7)
    scripts: set[asyncio.Task[None]] = set()

    async def converse(call: AgentCall) -> None:
        await asyncio.sleep(rng.uniform(0.0, 2.0))
        while True:
            generation = await call.speak(TURN_S)
            if rng.random() < clear_ratio:
                await asyncio.sleep(rng.uniform(0.5, 1.2))
                clears.setdefault(call.call_id, []).append(time.time())
                await call.clear(generation)
            else:
                with contextlib.suppress(TimeoutError):
                    await call.wait_playout(generation, timeout_s=TURN_S + 1)
            await asyncio.sleep(rng.uniform(0.8, 1.6))

    async def watch() -> None:
        started: set[str] = set()
        while True:
            for call_id, call in list(agent.calls.items()):
                if call_id not in started:
                    started.add(call_id)
                    task = asyncio.create_task(converse(call))
                    scripts.add(task)
                    task.add_done_callback(scripts.discard)
            await asyncio.sleep(0.05)

    print("ready", flush=True)
    watcher = asyncio.create_task(watch())
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    watcher.cancel()
    for task in list(scripts):
        task.cancel()
    await asyncio.gather(watcher, *scripts, return_exceptions=True)
    await agent.stop()
    await nc.drain()
    return {"clears": clears}


# --- measuring -----------------------------------------------------------------------------------------------


@dataclass
class EdgeSample:
    cpu_s: float
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def value(self, name: str, **labels: str) -> float:
        wanted = tuple(sorted(labels.items()))
        return sum(
            v for (n, lbls), v in self.metrics.items() if n == name and all(item in lbls for item in wanted)
        )

    def buckets(self, name: str) -> list[tuple[float, float]]:
        points = [
            (float(dict(lbls)["le"]), value)
            for (n, lbls), value in self.metrics.items()
            if n == name + "_bucket"
        ]
        return sorted(points)


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_edge(pid: int, ops_port: int) -> EdgeSample:
    """The edge's metrics, and its CPU time so far (0 without a pid)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            metrics[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return EdgeSample(process_cpu_s(pid) if pid else 0.0, metrics)


def histogram_quantile(
    q: float, before: list[tuple[float, float]], after: list[tuple[float, float]]
) -> float:
    """Prometheus-style quantile of the observations between two samples of a cumulative histogram."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower_le, lower_count = 0.0, 0.0
    for le, count in counts:
        if count >= rank:
            if le == float("inf"):
                return lower_le
            width = count - lower_count
            return lower_le + (le - lower_le) * ((rank - lower_count) / width if width else 1.0)
        lower_le, lower_count = le, count
    return lower_le


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class IngestProbe:
    """Caller frames on the bus: how long after their ingest at the edge they arrive here."""

    def __init__(self) -> None:
        self.codec = FrameCodec()
        self.recording = False
        self.latencies_ms: list[float] = []
        self.frames = 0

    async def on_msg(self, msg: Msg) -> None:
        now = time.time_ns()
        frame = self.codec.decode(msg.data)
        self.frames += 1
        if self.recording:
            self.latencies_ms.append((now - frame.ingest_ns) / 1e6)


# --- orchestration -------------------------------------------------------------------------------------------


async def seed(bus: Bus, ids: list[str]) -> None:
    await ProfileStore(await bus.js.key_value(subjects.PROFILES_BUCKET)).put(
        Profile(
            name=PROFILE, provider="openai", model="stand-in", instructions="-", greeting="-", voice="alloy"
        )
    )
    calls = CallStore(await bus.js.key_value(subjects.CALLS_BUCKET))
    for call_id in ids:
        await calls.create(
            CallRecord(
                call_id=call_id,
                direction="outbound",
                to_number="+15550100",
                from_number="+15550199",
                profile=PROFILE,
                status=CallStatus.IN_PROGRESS,
            )
        )


async def spawn(
    *args: str, env: dict[str, str] | None = None, stdin: bool = False, nice: int = 0
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )


async def wait_attached(ops_port: int, streams: int, timeout_s: float = 60.0) -> None:
    """Until every stream has its agent (audio held while attaching would otherwise count as late)."""
    deadline = time.monotonic() + timeout_s
    while True:
        sample = await asyncio.to_thread(sample_edge, 0, ops_port)
        attached = sample.value("switchboard_edge_attach_seconds_count", component="agent")
        if attached >= streams:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {attached:.0f} of {streams} streams attached in {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def result_of(
    process: asyncio.subprocess.Process, name: str, send: bytes | None = None
) -> dict[str, Any]:
    """The JSON a role printed last; fails with the end of its stderr when there is none."""
    out, err = await process.communicate(send)
    lines = out.decode().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"the {name} process failed ({process.returncode}):\n{err.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def wait_listening(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
        else:
            writer.close()
            return


async def wait_ready(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(http_ok, url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} never became ready")
        await asyncio.sleep(0.1)


async def main(args: argparse.Namespace) -> int:
    ids = call_ids(args.streams)
    with tempfile.TemporaryDirectory(prefix="bench-edge-nats-") as store:
        nats_port = free_port()
        nats_url = f"nats://127.0.0.1:{nats_port}"
        nats = await spawn(nats_server_binary(), "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", store)
        await wait_listening(nats_port)
        metrics = BusMetrics(new_registry())
        nc = await connect(BusOptions(url=nats_url, name="bench"), metrics)
        await ensure_jetstream(nc.jetstream())
        bus = Bus(nc, metrics)
        await seed(bus, ids)
        probe = IngestProbe()
        caller_format = AudioFormat.PCM24K if args.transcode == "inline" else AudioFormat.PCMU8K
        await nc.subscribe(subjects.audio(subjects.ANY, Direction.IN, caller_format), cb=probe.on_msg)

        edge_port, edge_ops = free_port(), free_port()
        edge = await spawn(
            sys.executable,
            "-m",
            "switchboard.media_edge.main",
            env={
                "MEDIA_EDGE_NATS_URL": nats_url,
                "MEDIA_EDGE_HOST": "127.0.0.1",
                "MEDIA_EDGE_PORT": str(edge_port),
                "MEDIA_EDGE_OPS_PORT": str(edge_ops),
                "MEDIA_EDGE_PUBLIC_STREAM_URL": PUBLIC_URL,
                "MEDIA_EDGE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "MEDIA_EDGE_STREAM_SECRET": STREAM_SECRET,
                "MEDIA_EDGE_LOG_LEVEL": "WARNING",
                "MEDIA_EDGE_WS_IMPLEMENTATION": args.ws,
                "MEDIA_EDGE_PACING_LEAD_MS": str(args.lead_ms),
                "MEDIA_EDGE_DRAIN_DEADLINE_S": "5",
                "MEDIA_EDGE_TRANSCODE": args.transcode,
            },
        )
        children = [edge, nats]
        if args.transcode == "service":
            transcoder = await spawn(
                sys.executable,
                "-m",
                "switchboard.transcoder.main",
                env={
                    "TRANSCODER_NATS_URL": nats_url,
                    "TRANSCODER_OPS_PORT": str(free_port()),
                    "TRANSCODER_LOG_LEVEL": "WARNING",
                },
                nice=args.nice,
            )
            children.append(transcoder)
        agent = await spawn(
            sys.executable,
            SCRIPT,
            "--role",
            "agent",
            "--nats",
            nats_url,
            "--streams",
            str(args.streams),
            "--clear-ratio",
            str(args.clear_ratio),
            stdin=True,
            nice=args.nice,
        )
        children.append(agent)
        try:
            await wait_ready(f"http://127.0.0.1:{edge_ops}/readyz")
            assert agent.stdout is not None
            await asyncio.wait_for(agent.stdout.readline(), 30)
            await asyncio.sleep(1.0)  # the transcoder joins its queue group
            url = f"ws://127.0.0.1:{edge_port}/twilio/stream"
            share = -(-args.streams // args.phone_procs)
            phones = [
                await spawn(
                    sys.executable,
                    SCRIPT,
                    "--role",
                    "phones",
                    "--url",
                    url,
                    "--first",
                    str(first),
                    "--count",
                    str(min(share, args.streams - first)),
                    stdin=True,
                    nice=args.nice,
                )
                for first in range(0, args.streams, share)
            ]
            children += phones
            await wait_attached(edge_ops, args.streams)
            await asyncio.sleep(SETTLE_S)
            pids = {
                "edge": edge.pid,
                "phones": phones[0].pid,
                **({"transcoder": transcoder.pid} if args.transcode == "service" else {}),
                "agent": agent.pid,
                "nats-server": nats.pid,
                "bench": os.getpid(),
            }
            cpu_before = {name: process_cpu_s(pid) for name, pid in pids.items()}
            before = await asyncio.to_thread(sample_edge, edge.pid, edge_ops)
            probe.recording = True
            started, window_wall = time.monotonic(), [time.time()]
            await asyncio.sleep(args.seconds)
            probe.recording = False
            window_wall.append(time.time())
            after = await asyncio.to_thread(sample_edge, edge.pid, edge_ops)
            window = time.monotonic() - started
            cpu_share = {name: (process_cpu_s(pid) - cpu_before[name]) / window for name, pid in pids.items()}
            phone_results = [await result_of(p, "phones", b"stop\n") for p in phones]
            agent_result = await result_of(agent, "agent", b"stop\n")
            await nc.drain()
        finally:
            for child in children:
                if child.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.send_signal(signal.SIGTERM)
            for child in children:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.wait(), 15)

    agent_clears = {
        call_id: [at for at in times if window_wall[0] <= at <= window_wall[1]]
        for call_id, times in agent_result["clears"].items()
    }
    report(args, before, after, window, probe, phone_results, agent_clears, cpu_share)
    return 0


def report(
    args: argparse.Namespace,
    before: EdgeSample,
    after: EdgeSample,
    window: float,
    probe: IngestProbe,
    phones: list[dict[str, Any]],
    agent_clears: dict[str, list[float]],
    cpu_share: dict[str, float],
) -> None:
    messages = after.value("switchboard_edge_twilio_messages_total") - before.value(
        "switchboard_edge_twilio_messages_total"
    )
    messages_in = after.value("switchboard_edge_twilio_messages_total", direction="in") - before.value(
        "switchboard_edge_twilio_messages_total", direction="in"
    )
    cpu = after.cpu_s - before.cpu_s
    us_per_message = cpu / messages * 1e6 if messages else float("nan")
    reaction = "switchboard_edge_clear_reaction_seconds"
    clear_p50 = histogram_quantile(0.5, before.buckets(reaction), after.buckets(reaction)) * 1000
    clear_p99 = histogram_quantile(0.99, before.buckets(reaction), after.buckets(reaction)) * 1000
    clears_counted = after.value(reaction + "_count") - before.value(reaction + "_count")
    via_bus = "switchboard_edge_clear_latency_seconds"
    via_bus_p50 = histogram_quantile(0.5, before.buckets(via_bus), after.buckets(via_bus)) * 1000
    via_bus_p99 = histogram_quantile(0.99, before.buckets(via_bus), after.buckets(via_bus)) * 1000
    ingest_p50 = percentile(probe.latencies_ms, 0.5)
    ingest_p99 = percentile(probe.latencies_ms, 0.99)
    end_to_end = clear_end_to_end_ms(agent_clears, phones)
    late = sum(p["late_frames"] for p in phones)
    errors = sum(p["errors"] for p in phones)

    def verdict(value: float, target: float) -> str:
        return "PASS" if value <= target else "FAIL"

    rows = [
        ("streams", f"{args.streams}", "", ""),
        ("window", f"{window:.1f} s", "", ""),
        (
            "Twilio messages at the edge",
            f"{messages / window:,.0f}/s ({messages_in / window:,.0f}/s in)",
            "",
            "",
        ),
        ("edge CPU", f"{cpu / window * 100:.0f}% of a core", "", ""),
        ("edge CPU per message", f"{us_per_message:.1f} µs", "", ""),
        ("ingest→bus p50", f"{ingest_p50:.2f} ms", "", ""),
        (
            "ingest→bus p99",
            f"{ingest_p99:.2f} ms",
            f"≤ {TARGET_INGEST_P99_MS} ms",
            verdict(ingest_p99, TARGET_INGEST_P99_MS),
        ),
        ("clear reaction p50 (edge)", f"{clear_p50:.2f} ms", "", ""),
        (
            "clear reaction p99 (edge)",
            f"{clear_p99:.2f} ms",
            f"≤ {TARGET_CLEAR_P99_MS} ms",
            verdict(clear_p99, TARGET_CLEAR_P99_MS),
        ),
        ("clears measured", f"{clears_counted:.0f}", "", ""),
        ("clear, agent → written at the edge p50 / p99", f"{via_bus_p50:.1f} / {via_bus_p99:.1f} ms", "", ""),
        (
            "clear, agent → phone p50 / p99",
            f"{end_to_end[0]:.1f} / {end_to_end[1]:.1f} ms ({end_to_end[2]} had nothing to clear)",
            "",
            "",
        ),
        ("phone: late frames / protocol errors", f"{late} / {errors}", "", ""),
        (
            "CPU, % of a core",
            " ".join(f"{name} {share * 100:.0f}" for name, share in cpu_share.items()),
            "",
            "",
        ),
    ]
    width = max(len(row[0]) for row in rows)
    print(
        f"\nmedia-edge, {args.streams} streams, ws={args.ws}, μ-law converted {'in the edge' if args.transcode == 'inline' else 'by the transcoder'}, lead {args.lead_ms:.0f} ms, "
        f"load generators at nice {args.nice}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'measure':<{width}}  {'value':<34} {'target':<10} result")
    for name, value, target, result in rows:
        print(f"{name:<{width}}  {value:<34} {target:<10} {result}")


def clear_end_to_end_ms(
    agent_clears: dict[str, list[float]], phones: list[dict[str, Any]]
) -> tuple[float, float, int]:
    """p50 and p99 of agent clear → phone clear, and how many clears had nothing queued to clear.

    A phone clear answers an agent clear when it comes before the agent's next clear of the same call; the edge
    sends none when nothing of the generation was at Twilio yet (the agent cleared before its audio got there).
    """
    heard = {call_id: sorted(times) for result in phones for call_id, times in result["clears"].items()}
    delays: list[float] = []
    unanswered = 0
    for call_id, sent in agent_clears.items():
        received = heard.get(call_id, [])
        sent = sorted(sent)
        for index, at in enumerate(sent):
            until = sent[index + 1] if index + 1 < len(sent) else float("inf")
            answer = next((t for t in received if at - 0.001 <= t < until), None)
            if answer is None:
                unanswered += 1
            else:
                delays.append((answer - at) * 1000)
    return percentile(delays, 0.5), percentile(delays, 0.99), unanswered


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ws", choices=("websockets-sansio", "websockets"), default="websockets-sansio")
    parser.add_argument("--lead-ms", type=float, default=100.0)
    parser.add_argument(
        "--transcode",
        choices=("inline", "service"),
        default="inline",
        help="where μ-law is converted: in the edge (the default) or by a transcoder process",
    )
    parser.add_argument("--clear-ratio", type=float, default=0.5, help="share of agent turns interrupted")
    parser.add_argument("--phone-procs", type=int, default=1)
    parser.add_argument(
        "--nice", type=int, default=5, help="niceness of the load generators (phones, agent, transcoder)"
    )
    parser.add_argument("--role", choices=("main", "phones", "agent"), default="main", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def entry() -> int:
    args = arguments()
    if args.role == "phones":
        ids = call_ids(args.count, args.first)
        result = uvloop.run(run_phones(args.url, ids, ramp_s=PHONES_RAMP_S))
        print(json.dumps(result), flush=True)
        return 0
    if args.role == "agent":
        result = uvloop.run(run_agent(args.nats, args.streams, args.clear_ratio))
        print(json.dumps(result), flush=True)
        return 0
    return uvloop.run(main(args))


if __name__ == "__main__":
    sys.exit(entry())
