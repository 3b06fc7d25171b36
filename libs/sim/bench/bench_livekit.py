"""LiveKit emulator benchmark: what N concurrent SIP calls cost the emulator (CPU per call-second, MB per call).

    uv run python libs/sim/bench/bench_livekit.py --calls 5 10 --seconds 10

The emulator runs as its own process (`python -m switchboard.sim.livekit`). For each call this process joins a
room with the real rtc SDK (as the edge does), publishes a 48 kHz tone in 10 ms frames, dials the SIP phone with
`CreateSIPParticipant` (wait until answered) and reads the phone's audio with an `AudioStream`. The emulator
relays the tone to the phone (Opus decode, 8 kHz μ-law playout) and the phone's microphone to the room (Opus
encode), over aiortc. Reported per run: the emulator's CPU per call-second and resident memory per call, and
this process's CPU (the rtc SDK's, for scale). No target: the figure is what the platform benchmark must
leave room for when it runs the emulator on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np
from livekit import api, rtc

from switchboard.devkit.nats_server import free_port

KEY, SECRET = "benchkey", "bench-secret-bench-secret-bench-00"
TRUNK, TRUNK_NUMBER = "ST_bench", "+15550100000"
RATE, FRAME = 48000, 480
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def speak(source: rtc.AudioSource) -> None:
    tone = (0.2 * 32767 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.int16)
    position = 0
    while True:
        chunk = tone[position : position + FRAME]
        position = (position + FRAME) % (RATE - FRAME)
        await source.capture_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME))


HEARD = [0]  # 10 ms frames the clients received from the phones: proof that every call carries audio


async def listen(track: rtc.Track) -> None:
    async for _ in rtc.AudioStream(track, sample_rate=RATE, num_channels=1):
        HEARD[0] += 1


async def one_call(url: str, lkapi: api.LiveKitAPI, index: int, tasks: list[asyncio.Task[None]]) -> rtc.Room:
    name = f"call-bench-{index}"
    token = (
        api.AccessToken(KEY, SECRET)
        .with_identity("edge")
        .with_grants(api.VideoGrants(room_join=True, room=name))
        .to_jwt()
    )
    room = rtc.Room()
    room.on("track_subscribed", lambda track, _pub, _p: tasks.append(asyncio.create_task(listen(track))))
    await room.connect(url, token)
    source = rtc.AudioSource(RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track("agent", source)
    await room.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )
    tasks.append(asyncio.create_task(speak(source)))
    await lkapi.sip.create_sip_participant(
        api.CreateSIPParticipantRequest(
            sip_trunk_id=TRUNK, sip_call_to=f"+1555020{index:04d}", room_name=name, wait_until_answered=True
        )
    )
    return room


async def run(calls: int, seconds: float) -> tuple[float, float, float, float]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.sim.livekit", "--port", str(port), "--api-key", KEY,
        "--api-secret", SECRET, "--outbound-trunk", f"{TRUNK}={TRUNK_NUMBER}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    tasks: list[asyncio.Task[None]] = []
    rooms: list[rtc.Room] = []
    try:
        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(OSError):
                    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                await asyncio.sleep(0.1)
        lkapi = api.LiveKitAPI(url, KEY, SECRET)
        async with asyncio.timeout(30 + 5 * calls):  # a machine too busy to set the calls up fails, not hangs
            rooms.append(await one_call(url, lkapi, 0, tasks))
            await asyncio.sleep(1.0)
            one_call_mb = rss_mb(process.pid)  # paid once per process, not per call
            for index in range(1, calls):
                rooms.append(await one_call(url, lkapi, index, tasks))
        await asyncio.sleep(2.0)  # every stream flowing
        start_cpu, start_self, start, heard = (
            cpu_s(process.pid),
            time.process_time(),
            time.monotonic(),
            HEARD[0],
        )
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - start
        flowing = (HEARD[0] - heard) / (
            elapsed * calls * 100
        )  # of the 100 frames a second each call should get
        emulator_ms = (cpu_s(process.pid) - start_cpu) * 1000 / (elapsed * calls)
        client_ms = (time.process_time() - start_self) * 1000 / (elapsed * calls)
        per_call_mb = (rss_mb(process.pid) - one_call_mb) / max(1, calls - 1)
        await lkapi.aclose()
        return emulator_ms, per_call_mb, client_ms, flowing
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for room in rooms:
            await room.disconnect()
        process.terminate()
        await process.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    print(
        f"{'calls':>6} {'emulator CPU ms per call-second':>32} {'emulator MB per call':>21} "
        f"{'rtc clients CPU ms/call-s':>26} {'phone audio received':>21}"
    )
    for calls in arguments.calls:
        emulator_ms, mb, client_ms, flowing = await run(calls, arguments.seconds)
        print(f"{calls:>6} {emulator_ms:>32.1f} {mb:>21.1f} {client_ms:>26.1f} {flowing:>21.0%}")


if __name__ == "__main__":
    asyncio.run(main())
