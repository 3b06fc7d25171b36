"""Simulated phones benchmark: do N concurrent phones keep Twilio's real-time pace (50 media messages a second)?

    uv run python libs/sim/bench/bench_phones.py                     # 50 and 200 phones, 5 s each
    uv run python libs/sim/bench/bench_phones.py --phones 50 --seconds 10

Each phone (`switchboard.sim.phone.MediaStreamCall`) streams silence to a WebSocket server in this process that
only timestamps what arrives, as the edge would see it. Per phone: media messages per second between its first
and its last media message, and its pacing statistics (a frame is late when it leaves more than 20 ms after its
deadline; late frames are caught up at once, so the count of frames stays right). The load generator and the
end-to-end tests rely on this pace with 50-200 phones in one process.

Target: every phone within 50 ± 10 % messages a second at 50 phones; at 200 the figures are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

from websockets.asyncio.server import ServerConnection, serve

from switchboard.sim.phone import MediaStreamCall

TARGET_RATE = 50.0
TOLERANCE = 0.10


class Arrivals:
    """When each stream's media messages arrived."""

    def __init__(self) -> None:
        self.by_stream: dict[str, list[float]] = {}

    async def handle(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("event") == "media":
                self.by_stream.setdefault(message["streamSid"], []).append(time.monotonic())


async def run(phones: int, seconds: float) -> bool:
    """One round: `phones` phones for `seconds`; prints the figures, returns whether the target is met."""
    arrivals = Arrivals()
    async with serve(arrivals.handle, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        calls = [MediaStreamCall(f"ws://127.0.0.1:{port}/twilio/stream") for _ in range(phones)]

        async def stream(call: MediaStreamCall) -> None:
            async with call:
                await asyncio.sleep(seconds)

        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(stream(call))
    rates = []
    for times in arrivals.by_stream.values():
        if len(times) > 1 and times[-1] > times[0]:
            rates.append((len(times) - 1) / (times[-1] - times[0]))
    late = sum(call.pacing.late_frames for call in calls)
    frames = sum(call.pacing.frames for call in calls)
    worst_ms = max(call.pacing.max_lateness_ms for call in calls)
    low, high = TARGET_RATE * (1 - TOLERANCE), TARGET_RATE * (1 + TOLERANCE)
    within = sum(low <= rate <= high for rate in rates)
    print(
        f"{phones:4d} phones x {seconds:.0f} s: messages/s per phone min {min(rates):.1f}, "
        f"median {statistics.median(rates):.1f}, max {max(rates):.1f} "
        f"({within}/{phones} within {low:.0f}-{high:.0f}); late frames {late}/{frames} "
        f"({100 * late / max(frames, 1):.1f} %), worst {worst_ms:.0f} ms late"
    )
    return len(rates) == phones and within == phones


def main() -> None:
    """Run each level; exit 1 when the 50-phone level misses the target."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phones", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    verdicts = {phones: asyncio.run(run(phones, args.seconds)) for phones in args.phones}
    checked = {phones: ok for phones, ok in verdicts.items() if phones <= 50}
    print(
        "PASS" if all(checked.values()) else "FAIL: a phone left 50 ± 10 % messages a second at <= 50 phones"
    )
    if not all(checked.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
