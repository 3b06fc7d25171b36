"""Whole-platform benchmark: N concurrent simulated calls through every service, the emulators on the same machine.

    uv run python libs/devkit/bench/bench_platform.py            # 50, 100, 150 calls, then the search (3-9 min)
    uv run python libs/devkit/bench/bench_platform.py --calls 20 --seconds 10 --no-search    # a quick look

Processes: nats-server (embedded), the five services as `make dev` runs them (one replica each; agent capacity and
the API rate limit raised for the load), the Gemini Live emulator (agent-gemini needs it to start; no call uses
it), and the load generator (`switchboard.sim.loadgen`): Twilio with one simulated phone per call, and the OpenAI
Realtime model, each in a process of its own at nice 5, plus the API client and the bus tap in this process.
Every call is placed through call-control's API with the `receptionist-openai` profile: the agent greets, the
callee says something every few seconds, the model answers in 2-4 s, and about a third of the answers are barged
in on.

Calls are ramped up level by level (50, 100, 150 by default: calls are added, never restarted); each level
settles, then a window of `--seconds` is measured. Then the search for the count where p99 first passes 20 ms:
in steps of 25 calls up from the last level under it, until a level passes it, `--cap` calls, or the time budget.

What each figure is:

- caller → agent, agent → caller (p50/p99): platform-added latency per direction, from exact samples at a bus tap
  following `--tap-calls` calls: `now - frame.ingest_ns` of every caller frame on `audio.in.pcm24k` (edge ingest,
  the edge's μ-law conversion, NATS: what the agent receives) and of every agent frame on `audio.out.pcm24k`
  (agent publish, NATS: what the edge receives, before its conversion of some µs). With `--transcode service`
  the spans run through the transcoder (edge, NATS, transcoder, NATS) and the agent side is tapped on
  `audio.out.pcmu8k`. Pacing agent audio to real time at the edge is by design and
  not counted, nor the LiveKit plugin's 100 ms batching of caller audio towards the model. For comparison, the
  details give the services' own histograms of the same spans over every call (`agent_in`, `edge_out`): bucketed,
  and they also count the receiving service's wait to get to the frame, which the tap does not see.
- barge-in (p50/p99): the model's `input_audio_buffer.speech_started` → Twilio's `clear` written by the edge, for
  every barge-in whose speech started in the window. Start: when the OpenAI emulator took in the audio it then
  detected speech in (it sends the event at once). End: the final `ctl.playout` of the cleared generation, which
  the edge publishes right after writing `clear` to Twilio. In the details: the agent's part (→ `ctl.clear`
  published) and the same span up to the phone reading `clear` (an emulator at nice 5: an upper bound).
- CPU per call-second: user + system time of each service process (and its children) over the window, from
  `/proc/<pid>/stat`, divided by calls × seconds; the total is the five services. nats-server and the emulators
  (the load generator's processes, the Gemini emulator and this process) are shown apart and not counted. Once the
  machine is saturated (see "machine busy"), this is capped by the machine, not by what the calls need.
- memory per call: each service's RSS at the end of the window minus its RSS idle (after a warm-up round of calls
  and a pause), divided by the calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
from prometheus_client.parser import text_string_to_metric_families

from switchboard.devkit.dev_config import EDGE_PUBLIC_URL, DevPlatform, Ports, Secrets
from switchboard.devkit.nats_server import EmbeddedNats, free_port
from switchboard.devkit.platform import ProcessGroup
from switchboard.sim.loadgen import Endpoints, LoadGenerator, LoadOptions, WindowReport, percentile

SERVICES = ("media-edge", "transcoder", "agent-openai", "agent-gemini", "call-control")
EMULATORS = ("loadgen-phones", "loadgen-model", "gemini-emulator", "bench (tap)")
LIMIT_MS = 20.0
GOAL_CALLS = 150
GOAL_P99_MS = 5.0
GOAL_BARGE_IN_P99_MS = 5.0
GOAL_CPU_MS = 6.0
GOAL_MB = 2.0
CLOCK_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
HOP = "switchboard_platform_latency_seconds"


# --- processes ------------------------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _family(pid: int, tree: dict[int, list[int]]) -> list[int]:
    family, stack = [], [pid]
    while stack:
        current = stack.pop()
        family.append(current)
        stack.extend(tree.get(current, []))
    return family


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_S


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _machine_busy_s() -> float:
    """CPU time the whole machine has spent busy (every core, every process, the kernel)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) * CLOCK_TICK_S


@dataclass(frozen=True)
class Sample:
    """CPU seconds and RSS (MB) of each watched process, its children included; the machine's busy time."""

    at: float
    cpu_s: dict[str, float]
    rss_mb: dict[str, float]
    machine_busy_s: float


def sample(pids: dict[str, int]) -> Sample:
    """Each process with its children, except this one (whose children are everything else)."""
    tree = _children()
    families = {name: [pid] if pid == os.getpid() else _family(pid, tree) for name, pid in pids.items()}
    return Sample(
        time.monotonic(),
        {name: sum(_cpu_s(p) for p in family) for name, family in families.items()},
        {name: sum(_rss_mb(p) for p in family) for name, family in families.items()},
        _machine_busy_s(),
    )


def nats_server_pid() -> int:
    """The nats-server this process started."""
    for child in _children().get(os.getpid(), []):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "nats-server":
                return child
    raise RuntimeError("nats-server is not a child of this process")


# --- the services' own histograms ------------------------------------------------------------------------------

Buckets = list[tuple[float, float]]


def hop_buckets(port: int, stage: str) -> Buckets:
    """A service's cumulative histogram of platform latency at `stage`: (upper bound, count)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sorted(
        (float(s.labels["le"]), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == HOP + "_bucket" and s.labels.get("stage") == stage
    )


def histogram_p99_ms(before: Buckets, after: Buckets) -> float:
    """The 99th percentile of what a cumulative histogram counted between two scrapes (linear in a bucket)."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = 0.99 * total
    lower_le, lower_count = 0.0, 0.0
    for le, count in counts:
        if count >= rank:
            if math.isinf(le):
                return lower_le * 1000
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return (lower_le + (le - lower_le) * share) * 1000
        lower_le, lower_count = le, count
    return lower_le * 1000


# --- the platform ----------------------------------------------------------------------------------------------


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def wait_ready(group: ProcessGroup, ports: list[int], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    for port in ports:
        while not await asyncio.to_thread(http_ok, f"http://127.0.0.1:{port}/readyz"):
            if group.exited.is_set():
                raise RuntimeError("a service exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service with ops port {port} never became ready")
            await asyncio.sleep(0.2)


@dataclass
class Bench:
    """The running platform and load generator, and what is known about them."""

    args: argparse.Namespace
    load: LoadGenerator
    pids: dict[str, int]
    ports: Ports
    started: float
    idle: Sample | None = None
    peak: int = 0
    """The most calls up so far."""

    def scrape(self) -> tuple[Sample, Buckets, Buckets]:
        return (
            sample(self.pids),
            hop_buckets(self.ports.agent_openai_ops, "agent_in"),
            hop_buckets(self.ports.edge_ops, "edge_out"),
        )


@dataclass
class Level:
    """One measured window at a number of calls."""

    calls: int
    up: int
    report: WindowReport
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU ms per call-second, by process."""
    mb_per_call: dict[str, float] = field(default_factory=dict)
    busy_cores: float = 0.0
    """CPU the whole machine used during the window, in cores."""
    others_cores: float = 0.0
    """CPU the processes outside this benchmark took during the window, in cores."""
    own_caller_p99_ms: float = float("nan")
    own_agent_p99_ms: float = float("nan")
    after_more: bool = False
    """Measured after a level with more calls, whose memory the services still hold."""

    @property
    def p99_ms(self) -> float:
        return self.report.worst_p99_ms

    @property
    def over_limit(self) -> bool:
        return self.up < self.calls or math.isnan(self.p99_ms) or self.p99_ms > LIMIT_MS

    @property
    def services_cpu_ms(self) -> float:
        return sum(self.cpu_ms[name] for name in SERVICES)

    @property
    def services_mb(self) -> float:
        return sum(self.mb_per_call[name] for name in SERVICES)


async def measure(bench: Bench, count: int) -> Level:
    args, load = bench.args, bench.load
    say(f"{count} calls: placing or hanging up calls")
    up = await load.set_calls(count)
    await asyncio.sleep(args.settle)
    say(f"{count} calls: {up} up, measuring {args.seconds:.0f} s")
    # /proc and /metrics are read outside the window: reading holds this process's loop, the tap's too.
    before, agent_in, edge_out = bench.scrape()
    await load.start_window()
    await asyncio.sleep(args.seconds)
    report = await load.end_window()
    after, agent_in_after, edge_out_after = bench.scrape()
    assert bench.idle is not None
    calls = max(1.0, (report.calls + report.calls_at_end) / 2)
    window = after.at - before.at
    level = Level(count, up, report, after_more=bench.peak > up)
    bench.peak = max(bench.peak, up)
    ours_s = 0.0
    for name in bench.pids:
        used_s = after.cpu_s[name] - before.cpu_s[name]
        ours_s += used_s
        level.cpu_ms[name] = used_s * 1000 / (calls * window)
        level.mb_per_call[name] = (after.rss_mb[name] - bench.idle.rss_mb[name]) / calls
    busy_s = after.machine_busy_s - before.machine_busy_s
    level.busy_cores = busy_s / window
    level.others_cores = max(0.0, busy_s - ours_s) / window
    level.own_caller_p99_ms = histogram_p99_ms(agent_in, agent_in_after)
    level.own_agent_p99_ms = histogram_p99_ms(edge_out, edge_out_after)
    say(
        f"{count} calls: p99 caller→agent {ms(percentile(report.caller_ms, 99))} ms, "
        f"agent→caller {ms(percentile(report.agent_ms, 99))} ms, "
        f"barge-in {ms(percentile(report.barge_in_ms, 99))} ms, "
        f"CPU {level.services_cpu_ms:.1f} ms per call-second, machine busy {level.busy_cores:.2f} cores"
    )
    return level


async def search(bench: Bench, levels: list[Level]) -> str:
    """Steps up from the last level under the limit until one passes it; says where and why it stopped."""
    args = bench.args
    over = [level.calls for level in levels if level.over_limit]
    ceiling = min(over, default=math.inf)
    start = max((level.calls for level in levels if level.calls < ceiling), default=0)
    searched = f"searched in steps of {args.step} from {start}"
    level_s = args.settle + args.seconds + 15
    count = start + args.step
    while count < ceiling:
        if count > args.cap:
            return f"{searched}, stopped at the cap of {args.cap} calls"
        if time.monotonic() - bench.started + level_s > args.budget:
            return f"{searched}, stopped before {count} calls by the time budget of {args.budget:.0f} s"
        level = await measure(bench, count)
        levels.append(level)
        if level.over_limit:
            break
        count += args.step
    return searched


async def run(args: argparse.Namespace) -> tuple[list[Level], str]:
    started = time.monotonic()
    keys = Secrets()
    ports = Ports(**{name: free_port() for name in Ports.__dataclass_fields__})
    with tempfile.TemporaryDirectory(prefix="bench-platform-") as state_dir, EmbeddedNats() as nats:
        state = Path(state_dir)
        dev = DevPlatform(
            nats.url,
            state,
            ports=ports,
            keys=keys,
            extra_env={
                "LOG_LEVEL": "ERROR",
                "RATE_LIMIT_PER_S": "100",
                "RATE_LIMIT_BURST": "100",
                "CAPACITY": str(max(args.cap, *args.calls) + 50),
                "TRANSCODE": args.transcode,
            },
        )
        endpoints = Endpoints(
            api_url=f"http://127.0.0.1:{ports.call_control}",
            api_key=keys.api_key,
            nats_url=nats.url,
            edge_url=f"ws://127.0.0.1:{ports.edge}",
            public_edge_url=EDGE_PUBLIC_URL.rsplit("/twilio", 1)[0],
            twilio_account_sid=dev.twilio_account_sid,
            twilio_auth_token=dev.twilio_auth_token,
            twilio_port=ports.twilio_emulator,
            openai_api_key=keys.openai_key,
            openai_port=ports.openai_emulator,
        )
        options = LoadOptions(
            tap_calls=args.tap_calls,
            nice=args.nice,
            log_dir=str(state),
            edge_transcodes=args.transcode == "inline",
        )
        group = ProcessGroup(colour=False)
        try:
            pids: dict[str, int] = {}
            for spec in dev.emulators():
                if spec.name == "gemini-emulator":
                    pids[spec.name] = (await group.start(spec)).pid
                    os.setpriority(os.PRIO_PROCESS, pids[spec.name], args.nice)
            deadline = time.monotonic() + 30
            while not dev.gemini_ca.exists():  # agent-gemini reads it at start
                if time.monotonic() > deadline:
                    raise RuntimeError("the Gemini emulator wrote no CA file")
                await asyncio.sleep(0.1)
            async with LoadGenerator(endpoints, options) as load:
                for spec in dev.services():
                    pids[spec.name] = (await group.start(spec)).pid
                await wait_ready(
                    group,
                    [
                        ports.transcoder_ops,
                        ports.edge_ops,
                        ports.agent_openai_ops,
                        ports.agent_gemini_ops,
                        ports.call_control_ops,
                    ],
                )
                pids.update(load.pids)
                pids["nats-server"] = nats_server_pid()
                pids["bench (tap)"] = os.getpid()
                bench = Bench(args, load, pids, ports, started)
                say(f"platform up in {time.monotonic() - started:.0f} s; warming up with {args.warmup} calls")
                await load.set_calls(args.warmup)
                await asyncio.sleep(10)
                await load.set_calls(0)
                await asyncio.sleep(5)
                bench.idle = sample(pids)
                levels = [await measure(bench, count) for count in args.calls]
                searched = await search(bench, levels) if args.search else "no search (--no-search)"
                await load.set_calls(0)
        except BaseException:
            say_log_tails(state)  # the directory goes with this run
            raise
        finally:
            await group.stop()
    return levels, searched


# --- report ---------------------------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def say_log_tails(directory: Path) -> None:
    for log in sorted(directory.glob("*.log")):
        say(f"the end of {log.name}:\n" + "\n".join(log.read_text().splitlines()[-20:]))


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def pair(values: list[float]) -> str:
    return f"{ms(percentile(values, 50))} / {ms(percentile(values, 99))}"


def print_report(levels: list[Level], searched: str, args: argparse.Namespace) -> None:
    rows = sorted(levels, key=lambda level: level.calls)
    print(
        f"\nSwitchboard, whole platform: {os.cpu_count()} cores, emulators on the same machine (nice {args.nice}), "
        f"{args.seconds:.0f} s windows, latency from every frame of {args.tap_calls} calls, "
        f"μ-law converted {'in the edge' if args.transcode == 'inline' else 'by the transcoder'}\n"
    )
    print(
        "| calls | caller→agent p50 / p99 ms | agent→caller p50 / p99 ms | barge-in p50 / p99 ms "
        "| CPU ms per call-second | MB per call |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for level in rows:
        r = level.report
        calls = f"{level.calls}" if level.up == level.calls else f"{level.calls} (only {level.up} up)"
        print(
            f"| {calls} | {pair(r.caller_ms)} | {pair(r.agent_ms)} | {pair(r.barge_in_ms)} "
            f"| {level.services_cpu_ms:.1f} | {level.services_mb:.2f}{' (*)' if level.after_more else ''} |"
        )
    if any(level.after_more for level in rows):
        print("\n(*) measured after a level with more calls: the services still hold what those calls took.")
    first_over = next((level for level in rows if level.over_limit), None)
    if first_over is not None:
        print(f"\np99 first passes {LIMIT_MS:.0f} ms at {first_over.calls} calls ({searched}).")
    else:
        print(f"\np99 stayed under {LIMIT_MS:.0f} ms up to {rows[-1].calls} calls ({searched}).")

    print("\nDetails (p99 in ms; cores = CPU time / window)\n")
    print(
        "| calls | barge-ins | → ctl.clear | → clear at the phone | nothing left to clear "
        "| services' own p99 caller→agent / agent→caller | machine busy | other processes | late caller frames |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level in rows:
        r = level.report
        late = 100 * r.phone_late_frames / r.phone_frames if r.phone_frames else float("nan")
        print(
            f"| {level.calls} | {len(r.barge_in_ms)} | {ms(percentile(r.barge_in_agent_ms, 99))} "
            f"| {ms(percentile(r.barge_in_phone_ms, 99))} | {r.clears_without_twilio_clear} "
            f"| {ms(level.own_caller_p99_ms)} / {ms(level.own_agent_p99_ms)} "
            f"| {level.busy_cores:.2f} | {level.others_cores:.2f} | {late:.1f}% |"
        )

    names = [*SERVICES, "nats-server", *EMULATORS]
    print(
        "\nCPU ms per call-second / MB per call, by process (the five services are counted, the rest not)\n"
    )
    print("| calls | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for level in rows:
        cells = [f"{level.cpu_ms[name]:.2f} / {level.mb_per_call[name]:.2f}" for name in names]
        print(f"| {level.calls} | " + " | ".join(cells) + " |")
    print_goals(next((level for level in rows if level.calls == GOAL_CALLS), None))


def print_goals(level: Level | None) -> None:
    print(f"\nGoals at {GOAL_CALLS} calls")
    if level is None:
        print(f"  not measured (put {GOAL_CALLS} in --calls)")
        return
    r = level.report
    checks = [
        (
            f"per-direction p99 <= {GOAL_P99_MS:.0f} ms",
            f"caller→agent {ms(percentile(r.caller_ms, 99))} ms, agent→caller {ms(percentile(r.agent_ms, 99))} ms",
            level.p99_ms <= GOAL_P99_MS and level.up == level.calls,
        ),
        (
            f"barge-in reaction p99 <= {GOAL_BARGE_IN_P99_MS:.0f} ms",
            f"{ms(percentile(r.barge_in_ms, 99))} ms ({len(r.barge_in_ms)} barge-ins)",
            percentile(r.barge_in_ms, 99) <= GOAL_BARGE_IN_P99_MS,
        ),
        (
            f"CPU <= {GOAL_CPU_MS:.0f} ms per call-second",
            f"{level.services_cpu_ms:.1f} ms",
            level.services_cpu_ms <= GOAL_CPU_MS,
        ),
        (f"memory <= {GOAL_MB:.0f} MB per call", f"{level.services_mb:.2f} MB", level.services_mb <= GOAL_MB),
    ]
    width = max(len(goal) for goal, _, _ in checks)
    for goal, value, passed in checks:
        print(f"  {goal:<{width}}  {value:<48} {'PASS' if passed else 'FAIL'}")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--calls",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[50, 100, 150],
        help="the levels measured first, comma-separated",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured window")
    parser.add_argument(
        "--settle", type=float, default=6.0, help="seconds between reaching a level and measuring"
    )
    parser.add_argument("--step", type=int, default=25, help="calls added at each step of the search")
    parser.add_argument("--cap", type=int, default=300, help="the search never goes past this many calls")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds the whole run may take")
    parser.add_argument("--no-search", dest="search", action="store_false")
    parser.add_argument("--warmup", type=int, default=10, help="calls of the warm-up round")
    parser.add_argument("--tap-calls", type=int, default=20, help="calls whose every frame is timed")
    parser.add_argument(
        "--transcode",
        choices=("inline", "service"),
        default="inline",
        help="where μ-law is converted: in the media edge (the default) or by the transcoder service",
    )
    parser.add_argument("--nice", type=int, default=5, help="niceness of the emulator processes")
    return parser.parse_args()


def main() -> int:
    args = arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("switchboard.common.bus.connection").setLevel(logging.ERROR)  # the tap's own close
    levels, searched = uvloop.run(run(args))
    print_report(levels, searched, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
