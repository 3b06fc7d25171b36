"""What a LiveKit call costs the edge: CPU per call-second and memory per call, calls on the edge's event loop.

    uv run python services/media-edge/bench/bench_livekit_edge.py --calls 20 --seconds 10

Processes: nats-server, the LiveKit emulator, the edge (measured: `switchboard-media-edge` with LiveKit on), and
this one, which seeds the records, dials each SIP phone into its room through `livekit-api` (as call-control
does), hands each call to the edge on `svc.edge.livekit.attach`, and runs the stand-in agent, which echoes the
caller's audio back (so agent audio flows all the time, 24 kHz PCM published through an `AudioSource`).

Reported: the edge's resident memory idle and with every call up (MB per call), and its CPU while they run (ms
of CPU per call-second, share of a core). livekit-agents' default would run each call in a process of its own
(~50 MB each before any audio); here every call is a task set on the edge's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from livekit import api

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect, ensure_jetstream
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.calls.store import CallStore
from switchboard.common.profiles import Profile, ProfileStore
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.nats_server import free_port, nats_server_binary
from switchboard.sim.stand_in_agent import StandInAgent, StandInOptions

KEY, SECRET = "benchkey", "bench-secret-bench-secret-bench-secret"
TRUNK, NUMBER = "ST_bench", "+15550100100"
PROFILE = "bench-livekit"
TARGET_MB_PER_CALL = 10.0
"""A tenth of what livekit-agents' process per job costs before any audio."""


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of each of the process's threads, summed by thread name (the SDK's native threads are named)."""
    by_name: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        by_name[name] = by_name.get(name, 0.0) + used
    return by_name


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def spawn(*argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def wait_listening(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
        else:
            writer.close()
            return


async def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} never became ready")
            await asyncio.sleep(0.1)


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
                transport="livekit",
                to_number="+15550100",
                from_number=NUMBER,
                profile=PROFILE,
                status=CallStatus.QUEUED,
                room=f"call-{call_id}",
            )
        )


async def main(args: argparse.Namespace) -> int:
    ids = [f"lkbench-{index}" for index in range(args.calls)]
    procs: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryDirectory() as store:
        nats_port, lk_port, edge_port, edge_ops = free_port(), free_port(), free_port(), free_port()
        try:
            procs.append(
                await spawn(
                    nats_server_binary(), "-a", "127.0.0.1", "-p", str(nats_port), "-js", "-sd", store
                )
            )
            await wait_listening(nats_port)
            nats_url = f"nats://127.0.0.1:{nats_port}"
            procs.append(
                await spawn(
                    sys.executable, "-m", "switchboard.sim.livekit", "--port", str(lk_port), "--api-key", KEY,
                    "--api-secret", SECRET, "--outbound-trunk", f"{TRUNK}={NUMBER}",
                )
            )  # fmt: skip
            metrics = BusMetrics(new_registry())
            nc = await connect(BusOptions(url=nats_url, name="bench"), metrics)
            await ensure_jetstream(nc.jetstream())
            bus = Bus(nc, metrics)
            await seed(bus, ids)
            edge = await spawn(
                sys.executable,
                "-m",
                "switchboard.media_edge.main",
                env={
                    "MEDIA_EDGE_NATS_URL": nats_url,
                    "MEDIA_EDGE_HOST": "127.0.0.1",
                    "MEDIA_EDGE_PORT": str(edge_port),
                    "MEDIA_EDGE_OPS_PORT": str(edge_ops),
                    "MEDIA_EDGE_TWILIO_AUTH_TOKEN": "bench-auth-token",
                    "MEDIA_EDGE_STREAM_SECRET": "bench-stream-secret",
                    "MEDIA_EDGE_LOG_LEVEL": "WARNING",
                    "MEDIA_EDGE_DRAIN_DEADLINE_S": "5",
                    "MEDIA_EDGE_LIVEKIT_URL": f"ws://127.0.0.1:{lk_port}",
                    "MEDIA_EDGE_LIVEKIT_API_KEY": KEY,
                    "MEDIA_EDGE_LIVEKIT_API_SECRET": SECRET,
                },
            )
            procs.append(edge)
            await wait_listening(lk_port)
            await wait_ready(f"http://127.0.0.1:{edge_ops}/readyz")
            agent = StandInAgent(bus, StandInOptions(provider="openai", instance="bench-agent", echo=True))
            await agent.start()
            await asyncio.sleep(2.0)
            idle_mb = rss_mb(edge.pid)
            lkapi = api.LiveKitAPI(f"http://127.0.0.1:{lk_port}", KEY, SECRET)
            for call_id in ids:
                room = f"call-{call_id}"
                await lkapi.room.create_room(api.CreateRoomRequest(name=room))
                await request_attach(
                    bus, subjects.edge_attach("livekit"), AttachRequest(call_id=call_id), timeout_s=10
                )
                await lkapi.sip.create_sip_participant(
                    api.CreateSIPParticipantRequest(
                        sip_trunk_id=TRUNK,
                        sip_call_to="+15550100",
                        room_name=room,
                        participant_identity="phone",
                    )
                )
            for call_id in ids:
                await agent.wait_for_call(call_id, timeout_s=60)
            await asyncio.sleep(3.0)  # every call's media flowing
            busy_mb = rss_mb(edge.pid)
            before, started = cpu_s(edge.pid), time.monotonic()
            threads_before = thread_cpu_s(edge.pid)
            await asyncio.sleep(args.seconds)
            window = time.monotonic() - started
            used = cpu_s(edge.pid) - before
            threads_after = thread_cpu_s(edge.pid)
            await lkapi.aclose()
            await agent.stop()
            await nc.drain()
        finally:
            for process in reversed(procs):
                if process.returncode is None:
                    process.terminate()
                    try:
                        await asyncio.wait_for(process.wait(), 20)
                    except TimeoutError:
                        process.kill()
    per_call_mb = (busy_mb - idle_mb) / args.calls
    per_call_second_ms = used / (window * args.calls) * 1000
    print(f"LiveKit calls on the edge's event loop: {args.calls} calls, {window:.1f} s measured")
    print(
        f"  edge memory: {idle_mb:.0f} MB idle, {busy_mb:.0f} MB with the calls: {per_call_mb:.1f} MB per call"
    )
    print(
        f"  edge CPU: {used / window * 100:.0f}% of a core, {per_call_second_ms:.1f} ms of CPU per call-second"
    )
    by_thread = sorted(
        ((threads_after[name] - threads_before.get(name, 0.0), name) for name in threads_after), reverse=True
    )
    print(
        "  edge CPU by thread (share of a core; `python` is the event loop, the others the SDK's native side):"
    )
    for thread_used, name in by_thread[:8]:
        print(f"    {name:<16} {thread_used / window * 100:4.0f}%")
    ok = per_call_mb <= TARGET_MB_PER_CALL
    print(f"  target: at most {TARGET_MB_PER_CALL:.0f} MB per call ({'PASS' if ok else 'FAIL'})")
    return 0 if ok else 1


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(arguments())))
