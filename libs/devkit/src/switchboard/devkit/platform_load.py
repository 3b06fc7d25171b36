"""The whole platform under a simulated load, and one measured window of it, for the platform benchmarks.

`loaded_platform` starts nats-server, the five services as `make dev` runs them (one replica each; agent capacity
and the API rate limit raised for the load), the Gemini Live emulator (agent-gemini needs it to start) and the load
generator (`switchboard.sim.loadgen`: Twilio or LiveKit with its phones, and the OpenAI model, in processes of their
own at `nice`). `LoadedPlatform.measure` brings the calls to a count, lets them settle and measures a window: the
load generator's report, CPU and memory of every process from /proc, and the services' own histograms.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prometheus_client.parser import text_string_to_metric_families

from switchboard.devkit.dev_config import DEV_LIVEKIT_TRUNK, EDGE_PUBLIC_URL, DevPlatform, Ports, Secrets
from switchboard.devkit.nats_authorization import NatsAuthorization
from switchboard.devkit.nats_server import EmbeddedNats
from switchboard.devkit.platform import ProcessGroup
from switchboard.devkit.process_usage import Sample, nats_server_pid, sample
from switchboard.sim.loadgen import Endpoints, LoadGenerator, LoadOptions, WindowReport, percentile

SERVICES = ("media-edge", "transcoder", "agent-openai", "agent-gemini", "call-control")
EMULATORS = ("loadgen-phones", "loadgen-model", "gemini-emulator", "bench (tap)")
LIMIT_MS = 20.0
"""A level is over the limit when a direction's p99 passes this (or not every call is up)."""
HOP = "switchboard_platform_latency_seconds"
EDGE_FLUSHES = "switchboard_edge_clear_reaction_seconds_count"
"""Observed once per flush the edge makes (Twilio `clear` written, LiveKit `clear_queue()`)."""

Progress = Callable[[str], None]
Buckets = list[tuple[float, float]]


# --- the services' own metrics ---------------------------------------------------------------------------------


METRICS_TIMEOUT_S = 20.0
"""A saturated service may take this long to answer a scrape; past it, its histograms are not reported."""


def _metrics(port: int, say: Progress) -> str:
    """The service's /metrics text; empty when it does not answer in time (its loop is saturated)."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/metrics", timeout=METRICS_TIMEOUT_S
        ) as response:
            return str(response.read().decode())
    except OSError as exc:
        say(f"no metrics from ops port {port} ({exc}): its own histograms are not reported for this level")
        return ""


def hop_buckets(text: str, stage: str) -> Buckets:
    """A service's cumulative histogram of platform latency at `stage`: (upper bound, count)."""
    return sorted(
        (float(s.labels["le"]), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == HOP + "_bucket" and s.labels.get("stage") == stage
    )


def _total(text: str, name: str) -> float:
    if not text:
        return float("nan")
    return sum(
        s.value for family in text_string_to_metric_families(text) for s in family.samples if s.name == name
    )


def histogram_p99_ms(before: Buckets, after: Buckets) -> float:
    """The 99th percentile of what a cumulative histogram counted between two scrapes (linear in a bucket)."""
    if not before or not after:
        return float("nan")  # a scrape that was not answered
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


@dataclass(frozen=True)
class _Histograms:
    agent_in: Buckets
    edge_out: Buckets
    edge_flushes: float


# --- the platform ----------------------------------------------------------------------------------------------


def http_ok(url: str) -> bool:
    """Whether `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def wait_ready(group: ProcessGroup, ports: list[int], timeout_s: float = 120.0) -> None:
    """Wait until every ops port answers `/readyz`; fail when a service exits or the time is up."""
    deadline = time.monotonic() + timeout_s
    for port in ports:
        while not await asyncio.to_thread(http_ok, f"http://127.0.0.1:{port}/readyz"):
            if group.exited.is_set():
                raise RuntimeError("a service exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service with ops port {port} never became ready")
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class LoadSettings:
    """What the platform runs and how windows are measured."""

    transport: Literal["twilio", "livekit"] = "twilio"
    capacity: int = 200
    """Calls the agents and the edge accept."""
    tap_calls: int = 20
    nice: int = 5
    transcode: Literal["inline", "service"] = "inline"
    settle_s: float = 6.0
    seconds: float = 20.0
    pause_s: tuple[float, float] = (1.0, 3.0)
    """How the callees behave, as in `LoadOptions`: the pause after an answer, the share of answers spoken over
    and how far into them."""
    barge_in_share: float = 1 / 3
    barge_in_after_s: tuple[float, float] = (0.5, 1.5)


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
    edge_flushes: int | None = None
    """Flushes the edge made in the window and the grace after it (its clear-reaction histogram's count); None
    when the edge did not answer a scrape."""
    after_more: bool = False
    """Measured after a level with more calls, whose memory the services still hold."""

    @property
    def p99_ms(self) -> float:
        """The worse direction's p99."""
        return self.report.worst_p99_ms

    @property
    def over_limit(self) -> bool:
        """Not every call up, or a direction's p99 over `LIMIT_MS` (or not measured)."""
        return self.up < self.calls or math.isnan(self.p99_ms) or self.p99_ms > LIMIT_MS

    @property
    def services_cpu_ms(self) -> float:
        """CPU ms per call-second of the five services together."""
        return sum(self.cpu_ms[name] for name in SERVICES)

    @property
    def services_mb(self) -> float:
        """MB per call of the five services together."""
        return sum(self.mb_per_call[name] for name in SERVICES)


@dataclass
class LoadedPlatform:
    """The running platform and load generator, and what is known about them."""

    settings: LoadSettings
    load: LoadGenerator
    pids: dict[str, int]
    ports: Ports
    progress: Progress
    idle: Sample | None = None
    peak: int = 0
    """The most calls up so far."""

    def _histograms(self) -> _Histograms:
        edge = _metrics(self.ports.edge_ops, self.progress)
        return _Histograms(
            hop_buckets(_metrics(self.ports.agent_openai_ops, self.progress), "agent_in"),
            hop_buckets(edge, "edge_out"),
            _total(edge, EDGE_FLUSHES),
        )

    async def warm_up(self, calls: int, seconds: float = 10.0) -> None:
        """A round of `calls` calls, hung up, a pause; then the idle memory every level is compared with."""
        if calls:
            await self.load.set_calls(calls)
            await asyncio.sleep(seconds)
            await self.load.set_calls(0)
            await asyncio.sleep(5)
        self.idle = sample(self.pids)

    async def measure(self, count: int) -> Level:
        """Bring the calls to `count`, let them settle, measure a window."""
        settings, load, say = self.settings, self.load, self.progress
        say(f"{count} calls: placing or hanging up calls")
        up = await load.set_calls(count)
        await asyncio.sleep(settings.settle_s)
        say(f"{count} calls: {up} up, measuring {settings.seconds:.0f} s")
        # /proc and /metrics are read outside the window: reading holds this process's loop, the tap's too. The
        # CPU window is /proc's, read right before the window and right after it (a slow scrape is outside).
        histograms_before = self._histograms()
        before = sample(self.pids)
        await load.start_window()
        await asyncio.sleep(settings.seconds)
        report = await load.end_window()
        after = sample(self.pids)
        histograms_after = self._histograms()
        assert self.idle is not None, "warm_up first"
        calls = max(1.0, (report.calls + report.calls_at_end) / 2)
        window = after.at - before.at
        level = Level(count, up, report, after_more=self.peak > up)
        self.peak = max(self.peak, up)
        ours_s = 0.0
        for name in self.pids:
            used_s = after.cpu_s[name] - before.cpu_s[name]
            ours_s += used_s
            level.cpu_ms[name] = used_s * 1000 / (calls * window)
            level.mb_per_call[name] = (after.rss_mb[name] - self.idle.rss_mb[name]) / calls
        busy_s = after.machine_busy_s - before.machine_busy_s
        level.busy_cores = busy_s / window
        level.others_cores = max(0.0, busy_s - ours_s) / window
        level.own_caller_p99_ms = histogram_p99_ms(histograms_before.agent_in, histograms_after.agent_in)
        level.own_agent_p99_ms = histogram_p99_ms(histograms_before.edge_out, histograms_after.edge_out)
        flushes = histograms_after.edge_flushes - histograms_before.edge_flushes
        level.edge_flushes = None if math.isnan(flushes) else round(flushes)
        say(
            f"{count} calls: p99 caller→agent {ms(percentile(report.caller_ms, 99))} ms, "
            f"agent→caller {ms(percentile(report.agent_ms, 99))} ms, "
            f"barge-in {ms(percentile(report.barge_in_ms, 99))} ms, "
            f"CPU {level.services_cpu_ms:.1f} ms per call-second, machine busy {level.busy_cores:.2f} cores"
        )
        return level


def say(text: str) -> None:
    """A benchmark's progress line, on stderr (its report goes to stdout)."""
    sys.stderr.write(f"bench: {text}\n")
    sys.stderr.flush()


def ms(value: float) -> str:
    """Milliseconds to one decimal, `-` when not measured."""
    return "-" if math.isnan(value) else f"{value:.1f}"


def pair(values: list[float]) -> str:
    """p50 / p99 of `values`, in ms."""
    return f"{ms(percentile(values, 50))} / {ms(percentile(values, 99))}"


def _log_tails(directory: Path, say: Progress) -> None:
    for log in sorted(directory.glob("*.log")):
        say(f"the end of {log.name}:\n" + "\n".join(log.read_text().splitlines()[-20:]))


@contextlib.asynccontextmanager
async def loaded_platform(settings: LoadSettings, progress: Progress) -> AsyncIterator[LoadedPlatform]:
    """Start the platform and the load generator; stop them all on the way out (logs shown on a failure)."""
    started = time.monotonic()
    keys = Secrets()
    ports = Ports.free()
    authorization = NatsAuthorization.random()  # production's users and grants; the tap is the dev user
    with (
        tempfile.TemporaryDirectory(prefix="bench-platform-") as state_dir,
        EmbeddedNats(authorization=authorization) as nats,
    ):
        state = Path(state_dir)
        dev = DevPlatform(
            nats.address,
            state,
            ports=ports,
            keys=keys,
            extra_env={
                "LOG_LEVEL": "ERROR",
                "RATE_LIMIT_PER_S": "100",
                "RATE_LIMIT_BURST": "100",
                "CAPACITY": str(settings.capacity),
                "TRANSCODE": settings.transcode,
            },
            nats_passwords=authorization.service_passwords,
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
            livekit_port=ports.livekit_emulator,
            livekit_api_key=keys.livekit_api_key,
            livekit_api_secret=keys.livekit_api_secret,
            livekit_trunk=DEV_LIVEKIT_TRUNK,
            livekit_number=dev.from_number,
            livekit_webhook_url=f"http://127.0.0.1:{ports.call_control}/livekit/webhook",
        )
        options = LoadOptions(
            transport=settings.transport,
            tap_calls=settings.tap_calls,
            nice=settings.nice,
            log_dir=str(state),
            edge_transcodes=settings.transcode == "inline",
            pause_s=settings.pause_s,
            barge_in_share=settings.barge_in_share,
            barge_in_after_s=settings.barge_in_after_s,
        )
        group = ProcessGroup(colour=False)
        try:
            pids: dict[str, int] = {}
            for spec in dev.emulators():
                if spec.name == "gemini-emulator":
                    pids[spec.name] = (await group.start(spec)).pid
                    os.setpriority(os.PRIO_PROCESS, pids[spec.name], settings.nice)
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
                progress(f"platform up in {time.monotonic() - started:.0f} s ({settings.transport} calls)")
                yield LoadedPlatform(settings, load, pids, ports, progress)
                await load.set_calls(0)
        except BaseException:
            _log_tails(state, progress)  # the directory goes with this run
            raise
        finally:
            await group.stop()
