"""Audio frame encode+decode cost against its target: `uv run python libs/common/bench/bench_frames.py`.

A 20 ms frame of each bus format goes through `FrameCodec.encode` and `FrameCodec.decode` (msgpack, the full
schema check included); the best of several repeats is reported per round trip. Exits non-zero above 3 µs.
"""

from __future__ import annotations

import sys
import time

from switchboard.common.bus.formats import AudioFormat
from switchboard.common.bus.frames import AudioFrame, FrameCodec

TARGET_US = 3.0
ROUNDS = 200_000
REPEATS = 5


def round_trip_us(codec: FrameCodec, frame: AudioFrame) -> float:
    """Best-of-`REPEATS` µs per encode+decode."""
    encode, decode = codec.encode, codec.decode
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter_ns()
        for _ in range(ROUNDS):
            decode(encode(frame))
        best = min(best, (time.perf_counter_ns() - started) / ROUNDS / 1000)
    return best


def main() -> None:
    codec = FrameCodec()
    print(f"{'format':>8} {'payload B':>10} {'wire B':>7} {'µs enc+dec':>11}  result")
    failed = False
    for fmt in AudioFormat:
        payload = bytes(fmt.bytes_for_ms(20))
        frame = AudioFrame("call_0123456789abcdef01234567", 1234, 24680, time.time_ns(), 3, payload)
        cost = round_trip_us(codec, frame)
        ok = cost <= TARGET_US
        failed |= not ok
        print(
            f"{fmt.value:>8} {len(payload):>10} {len(codec.encode(frame)):>7} {cost:>11.2f}  {'PASS' if ok else 'FAIL'}"
        )
    print(f"target: encode+decode of a 20 ms frame ≤ {TARGET_US} µs")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
