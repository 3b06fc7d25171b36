"""What a call recording costs: memory per live call on the edge, and storage per minute of call.

Runs 20 recorders at once against a real nats-server's object store, each fed a minute of a call (caller audio
every 20 ms, agent answers paced ahead as the downlink sends them, a barge-in flush now and then) on a simulated
clock, storing chunks as the edge does. Memory is what Python allocates (tracemalloc) at the busiest moment,
beyond what was allocated before the recorders, divided by the number of calls; it includes the pending chunk,
both channels' hold window and the object store's put buffers.

    uv run python services/media-edge/bench/bench_recording.py
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import tracemalloc
from pathlib import Path

import nats
import numpy as np
from prometheus_client import CollectorRegistry

from switchboard.common.bus.formats import AudioFormat
from switchboard.common.recordings.layout import BYTES_PER_SECOND
from switchboard.common.recordings.store import RecordingStore, ensure_recordings
from switchboard.devkit.nats_server import EmbeddedNats
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.recorder import CallRecorder

CALLS = 20
SECONDS = 60
FRAME_S = 0.02
TARGET_KB_PER_CALL = 300


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def bench(url: str) -> None:
    nc = await nats.connect(url)
    store = RecordingStore(await ensure_recordings(nc.jetstream(), "bench_recordings"))
    metrics = EdgeMetrics(CollectorRegistry())
    log = logging.LoggerAdapter(logging.getLogger("bench"), {})
    rng = np.random.default_rng(1)
    caller = rng.integers(0, 256, int(8000 * FRAME_S), dtype=np.uint8).tobytes()
    answer = rng.integers(0, 256, 800, dtype=np.uint8).tobytes()  # 100 ms chunks, as the downlink sends them
    clock = Clock()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    recorders = [
        CallRecorder(
            store,
            f"bench-{i}",
            metrics,
            caller_format=AudioFormat.PCMU8K,
            agent_format=AudioFormat.PCMU8K,
            log=log,
            clock=clock,
        )
        for i in range(CALLS)
    ]
    tracemalloc.reset_peak()
    steps = int(SECONDS / FRAME_S)
    for step in range(steps):
        clock.now += FRAME_S
        for recorder in recorders:
            recorder.caller(caller, round(step * FRAME_S * 1000))
            if step % 5 == 0:
                recorder.agent(answer, clock.now + 0.1)
            if step % 500 == 499:
                recorder.cut(clock.now)  # a barge-in
        if step % 25 == 24:  # every 0.5 s, as the recorder's task does
            for recorder in recorders:
                await recorder.store_due()
    manifests = [await recorder.finish() for recorder in recorders]
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    per_call_kb = peak / CALLS / 1024
    stored = sum(m.size for m in manifests) / CALLS
    print(f"calls recorded at once              {CALLS}")
    print(f"memory per live call (peak)         {per_call_kb:.0f} KB  (target ≤ {TARGET_KB_PER_CALL} KB)")
    print(
        f"storage per minute of call          {stored / SECONDS * 60 / 1e6:.2f} MB  ({BYTES_PER_SECOND} B/s)"
    )
    await nc.drain()
    if per_call_kb > TARGET_KB_PER_CALL:
        raise SystemExit(1)


def main() -> None:
    with tempfile.TemporaryDirectory() as store_dir, EmbeddedNats(store_dir=Path(store_dir)) as server:
        asyncio.run(bench(server.url))


if __name__ == "__main__":
    main()
