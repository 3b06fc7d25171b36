"""Twilio and LiveKit calls through the whole platform, side by side: 20 and 50 concurrent calls of each.

    uv run python libs/devkit/bench/bench_platform_transports.py         # 20 and 50 calls, 15 s windows (~4 min)
    uv run python libs/devkit/bench/bench_platform_transports.py --calls 20,50,80 --seconds 30   # a longer look
    uv run python libs/devkit/bench/bench_platform_transports.py --transports livekit --calls 10

Each transport gets a platform of its own, one after the other in this run (so each one's memory per call is
measured from its own idle, not after the other's calls): nats-server, the five services as `make dev` runs them,
the Gemini Live emulator, and the load generator (`switchboard.sim.loadgen`, see `bench_platform.py`): its phones
(the Twilio emulator with one Media Streams phone per call, or the LiveKit emulator with one SIP phone per call in
the call's room: `switchboard.sim.loadgen_livekit`) and the OpenAI Realtime model, each in a process of its own at
nice 5. Every call is placed through call-control's API (`transport` `twilio` or `livekit`, profile
`receptionist-openai`); the callees talk alike on both (greeting, a line every few seconds, answers in 2-4 s, a
third of them barged in on). Levels are ramped up (calls are added, never restarted), settled, and measured for
`--seconds`. The CPU, memory, latency and machine-busy figures are the same as `bench_platform.py`'s.

What each LiveKit figure measures:

- caller → agent (p50/p99): `now - frame.ingest_ns` of every caller frame of `--tap-calls` calls on
  `audio.in.pcm24k` at a bus tap. On LiveKit, `ingest_ns` is when the edge's loop takes the 20 ms frame out of the
  rtc SDK's `AudioStream` (already decoded from the room's RTP and resampled to 24 kHz by the SDK's native code):
  the span is the edge's Python hand-off and NATS, as on Twilio (where it starts at the μ-law message read from the
  WebSocket and includes the edge's conversion). The WebRTC path from the phone to the SDK is the emulator's and
  not in it.
- agent → caller (p50/p99): the agent's publish to what the edge receives on `audio.out.pcm24k`, the same span on
  both transports; the edge then pushes into the call's `AudioSource` (LiveKit) or converts and writes μ-law to the
  socket (Twilio). Pacing to real time in the source or ahead of the phone is by design and not counted.
- flush reaction (p50/p99): the OpenAI model's `speech_started` (when the emulator took in the audio it detected
  speech in) → the edge's flush. End point on LiveKit: the edge's `AudioSource.clear_queue()`, marked by the final
  `ctl.playout` of the cleared generation that the edge publishes right after it (the SIP phone is told nothing,
  so there is no phone-side figure); on Twilio, the `clear` written to the Media Stream. Audio already encoded and
  on its way through the emulator when the edge flushes still reaches the phone (~50 ms, tests/e2e/test_livekit.py)
  and is not in this figure. A barge-in whose answer had already played out of the source is matched too (the
  edge then publishes the final report without flushing): "edge flushes" counts the flushes the edge really made
  (its clear-reaction histogram), next to the barge-ins matched.
- CPU ms per call-second, MB per call: each service from /proc (children included) over the window, divided by
  calls × seconds; memory is RSS at the end of the window minus idle after a warm-up. On LiveKit the edge's figure
  includes the rtc SDK's native threads (Opus encode of the agent's audio, decode of the phone's, WebRTC).
- emulator apart: `loadgen-phones` is the LiveKit emulator (aiortc: the room's relay, Opus decode of the edge's
  track, the SIP phones) or the Twilio emulator and its phones; `loadgen-model` the OpenAI emulator. They run at
  nice 5 and are not counted in the services' total. "busiest" names the process that used the most CPU in the
  window and how many cores it took: an asyncio process at ~1.0 core is saturated, and whatever it serves
  (for `loadgen-phones`: every phone's audio) is late. "late caller frames" is the share of the phones' 20 ms
  frames sent more than 20 ms late; "machine busy" is the whole machine's CPU in cores (of `os.cpu_count()`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

import uvloop

from switchboard.devkit.platform_load import (
    EMULATORS,
    SERVICES,
    Level,
    LoadSettings,
    loaded_platform,
    ms,
    pair,
    say,
)
from switchboard.sim.loadgen import percentile

TRANSPORTS = ("twilio", "livekit")
NAMES = {"twilio": "Twilio", "livekit": "LiveKit"}
SATURATED_CORES = 0.9
"""A single-loop process using this much of a core is taken as saturated."""
LATE_SHARE = 0.05
"""Phones sending this share of their frames late are short of CPU."""


async def run(args: argparse.Namespace) -> dict[str, list[Level]]:
    results: dict[str, list[Level]] = {}
    for transport in args.transports:
        settings = LoadSettings(
            transport=transport,
            capacity=max(args.calls) + 50,
            tap_calls=args.tap_calls,
            nice=args.nice,
            settle_s=args.settle,
            seconds=args.seconds,
        )
        async with loaded_platform(settings, say) as platform:
            say(f"{transport}: warming up with {args.warmup} calls")
            await platform.warm_up(args.warmup)
            results[transport] = [await platform.measure(count) for count in args.calls]
    return results


# --- report ---------------------------------------------------------------------------------------------------


def cores(level: Level, name: str) -> float:
    calls = max(1.0, (level.report.calls + level.report.calls_at_end) / 2)
    return level.cpu_ms[name] * calls / 1000


def busiest(level: Level) -> str:
    name = max(level.cpu_ms, key=lambda n: cores(level, n))
    used = cores(level, name)
    return f"{name} {used:.2f}{' SATURATED' if used >= SATURATED_CORES else ''}"


def cpu_of(name: str) -> Callable[[str, Level], str]:
    return lambda _, level: f"{level.cpu_ms[name]:.2f}"


def mb_of(name: str) -> Callable[[str, Level], str]:
    return lambda _, level: f"{level.mb_per_call[name]:.2f}"


def print_report(results: dict[str, list[Level]], args: argparse.Namespace) -> None:
    columns = [
        (transport, level)
        for count in args.calls
        for transport in args.transports
        for level in results[transport]
        if level.calls == count
    ]
    print(
        f"\nSwitchboard, whole platform, Twilio and LiveKit: {os.cpu_count()} cores, emulators on the same machine "
        f"(nice {args.nice}), {args.seconds:.0f} s windows, latency from every frame of {args.tap_calls} calls, "
        "each transport on a platform of its own\n"
    )
    print("| | " + " | ".join(f"{NAMES[t]} {level.calls}" for t, level in columns) + " |")
    print("|---|" + "---:|" * len(columns))

    def row(label: str, cell: Callable[[str, Level], str]) -> None:
        print(f"| {label} | " + " | ".join(cell(t, level) for t, level in columns) + " |")

    row("calls up", lambda _, lv: f"{lv.up}" if lv.up == lv.calls else f"**{lv.up} of {lv.calls}**")
    row("caller→agent p50 / p99 ms", lambda _, lv: pair(lv.report.caller_ms))
    row("agent→caller p50 / p99 ms", lambda _, lv: pair(lv.report.agent_ms))
    row("flush reaction p50 / p99 ms", lambda _, lv: pair(lv.report.barge_in_ms))
    row(
        "barge-ins matched / edge flushes",
        lambda _, lv: f"{len(lv.report.barge_in_ms)} / {'-' if lv.edge_flushes is None else lv.edge_flushes}",
    )
    row("→ ctl.clear (agent) p99 ms", lambda _, lv: ms(percentile(lv.report.barge_in_agent_ms, 99)))
    row(
        "→ clear at the phone p99 ms",
        lambda t, lv: ms(percentile(lv.report.barge_in_phone_ms, 99)) if t == "twilio" else "n/a",
    )
    row("**CPU ms per call-second, services**", lambda _, lv: f"**{lv.services_cpu_ms:.2f}**")
    for name in SERVICES:
        row(f"  {name}", cpu_of(name))
    row("  nats-server (not counted)", lambda _, lv: f"{lv.cpu_ms['nats-server']:.2f}")
    for name in EMULATORS:
        row(f"  {name} (emulator, not counted)", cpu_of(name))
    row(
        "**MB per call, services**",
        lambda _, lv: f"**{lv.services_mb:.2f}**{' (*)' if lv.after_more else ''}",
    )
    for name in SERVICES:
        row(f"  {name}", mb_of(name))
    row("  loadgen-phones (emulator)", lambda _, lv: f"{lv.mb_per_call['loadgen-phones']:.2f}")
    row("emulator phones, cores", lambda _, lv: f"{cores(lv, 'loadgen-phones'):.2f}")
    row("busiest process, cores", lambda _, lv: busiest(lv))
    row("machine busy, cores", lambda _, lv: f"{lv.busy_cores:.2f} of {os.cpu_count()}")
    row("other processes, cores", lambda _, lv: f"{lv.others_cores:.2f}")
    row(
        "late caller frames",
        lambda _, lv: (
            f"{100 * lv.report.phone_late_frames / lv.report.phone_frames:.1f}%"
            if lv.report.phone_frames
            else "-"
        ),
    )
    if any(level.after_more for _, level in columns):
        print("\n(*) measured after a level with more calls: the services still hold what those calls took.")
    print(
        "\nFlush reaction ends at the edge's flush: Twilio's `clear` written to the Media Stream, LiveKit's "
        "`AudioSource.clear_queue()` (see the docstring). CPU and MB per call count the five services; the "
        "emulators and nats-server are apart."
    )
    saturated = [f"{NAMES[t]} {level.calls}: {why}" for t, level in columns if (why := saturation(level))]
    if saturated:
        print(
            "Saturated: "
            + "; ".join(saturated)
            + ". There latency and flush figures include waiting for CPU, "
            "and CPU per call-second is what the calls got, capped by the machine, not what they need."
        )


def saturation(level: Level) -> str:
    """Why the window was short of CPU, if it was: the machine, or one process at a full core."""
    reasons = []
    total = os.cpu_count() or 1
    if level.busy_cores >= SATURATED_CORES * total:
        reasons.append(
            f"the machine {level.busy_cores:.2f} of {total} cores busy "
            f"({level.others_cores:.2f} of them outside this benchmark)"
        )
    name = max(level.cpu_ms, key=lambda n: cores(level, n))
    if cores(level, name) >= SATURATED_CORES:
        reasons.append(f"{name} at {cores(level, name):.2f} cores")
    report = level.report
    late = report.phone_late_frames / report.phone_frames if report.phone_frames else 0.0
    if late >= LATE_SHARE:
        reasons.append(f"the emulator's phones (niced) sent {100 * late:.0f}% of their frames late")
    return ", ".join(reasons)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--calls",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[20, 50],
        help="the levels measured for each transport, comma-separated",
    )
    parser.add_argument(
        "--transports",
        type=lambda text: [t for t in text.split(",") if t],
        default=list(TRANSPORTS),
        help="comma-separated, of: twilio, livekit",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measured window")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds between reaching a level and measuring"
    )
    parser.add_argument("--warmup", type=int, default=5, help="calls of the warm-up round")
    parser.add_argument("--tap-calls", type=int, default=20, help="calls whose every frame is timed")
    parser.add_argument("--nice", type=int, default=5, help="niceness of the emulator processes")
    args = parser.parse_args()
    unknown = set(args.transports) - set(TRANSPORTS)
    if unknown:
        parser.error(f"unknown transports: {', '.join(sorted(unknown))}")
    return args


def main() -> int:
    args = arguments()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("switchboard.common.bus.connection").setLevel(logging.ERROR)  # the tap's own close
    results = uvloop.run(run(args))
    print_report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
