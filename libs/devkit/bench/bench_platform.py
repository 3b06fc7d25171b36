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
import logging
import math
import os
import sys
import time

import uvloop

from switchboard.devkit.platform_load import (
    EMULATORS,
    LIMIT_MS,
    SERVICES,
    Level,
    LoadedPlatform,
    LoadSettings,
    loaded_platform,
    ms,
    pair,
    say,
)
from switchboard.sim.loadgen import percentile

GOAL_CALLS = 150
GOAL_P99_MS = 5.0
GOAL_BARGE_IN_P99_MS = 5.0
GOAL_CPU_MS = 6.0
GOAL_MB = 2.0


async def search(
    platform: LoadedPlatform, levels: list[Level], args: argparse.Namespace, started: float
) -> str:
    """Steps up from the last level under the limit until one passes it; says where and why it stopped."""
    over = [level.calls for level in levels if level.over_limit]
    ceiling = min(over, default=math.inf)
    start = max((level.calls for level in levels if level.calls < ceiling), default=0)
    searched = f"searched in steps of {args.step} from {start}"
    level_s = args.settle + args.seconds + 15
    count = start + args.step
    while count < ceiling:
        if count > args.cap:
            return f"{searched}, stopped at the cap of {args.cap} calls"
        if time.monotonic() - started + level_s > args.budget:
            return f"{searched}, stopped before {count} calls by the time budget of {args.budget:.0f} s"
        level = await platform.measure(count)
        levels.append(level)
        if level.over_limit:
            break
        count += args.step
    return searched


async def run(args: argparse.Namespace) -> tuple[list[Level], str]:
    started = time.monotonic()
    settings = LoadSettings(
        capacity=max(args.cap, *args.calls) + 50,
        tap_calls=args.tap_calls,
        nice=args.nice,
        transcode=args.transcode,
        settle_s=args.settle,
        seconds=args.seconds,
    )
    async with loaded_platform(settings, say) as platform:
        say(f"warming up with {args.warmup} calls")
        await platform.warm_up(args.warmup)
        levels = [await platform.measure(count) for count in args.calls]
        searched = await search(platform, levels, args, started) if args.search else "no search (--no-search)"
    return levels, searched


# --- report ---------------------------------------------------------------------------------------------------


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
