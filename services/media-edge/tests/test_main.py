import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import MediaStopped
from switchboard.devkit.nats_server import free_port
from switchboard.sim.phone import CallRejected
from switchboard.sim.stand_in_agent import StandInAgent
from switchboard.transcoder.service import TranscoderService

from .conftest import AUTH_TOKEN, PUBLIC_URL, STREAM_SECRET, dial, seed_call

pytestmark = pytest.mark.integration


async def status(http: aiohttp.ClientSession, url: str) -> int:
    try:
        async with http.get(url) as response:
            return response.status
    except aiohttp.ClientError:
        return 0


@pytest.mark.timeout(90)
async def test_sigterm_drains_before_the_process_stops(
    client: Bus, nats_url: str, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    await seed_call(client, "sigterm-1")
    await seed_call(client, "sigterm-2")
    port, ops = free_port(), free_port()
    env = {
        **os.environ,
        "MEDIA_EDGE_NATS_URL": nats_url,
        "MEDIA_EDGE_HOST": "127.0.0.1",
        "MEDIA_EDGE_PORT": str(port),
        "MEDIA_EDGE_OPS_PORT": str(ops),
        "MEDIA_EDGE_PUBLIC_STREAM_URL": PUBLIC_URL,
        "MEDIA_EDGE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "MEDIA_EDGE_STREAM_SECRET": STREAM_SECRET,
        "MEDIA_EDGE_INSTANCE_ID": "edge-process",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.media_edge.main", env=env, stderr=asyncio.subprocess.PIPE
    )
    url = f"ws://127.0.0.1:{port}/twilio/stream"
    ready = f"http://127.0.0.1:{ops}/readyz"

    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(60):  # a cold start on a loaded machine takes a while
                while True:
                    assert process.returncode is None, "the edge exited during start-up"
                    if await status(http, ready) == 200:
                        break
                    await asyncio.sleep(0.05)
            active = dial(url, "sigterm-1")
            await active.open()
            answer = await agent.wait_for_call("sigterm-1")
            process.send_signal(signal.SIGTERM)
            for _ in range(100):
                if await status(http, ready) == 503:
                    break
                await asyncio.sleep(0.05)
            assert await status(http, ready) == 503, "readiness stays on while draining"
            with pytest.raises(CallRejected) as refused:
                await dial(url, "sigterm-2").open()
            assert refused.value.status == 503
            await answer.speak(0.3)
            await asyncio.wait_for(active.wait_for_audio(), 10)  # the active call goes on
            assert process.returncode is None
            await active.hang_up()
        await asyncio.wait_for(process.wait(), 20)
        assert process.returncode == 0
        assert active.counters.closed_by == "phone"
        history = await client.call_history("sigterm-1")
        assert [e.reason for e in history if isinstance(e, MediaStopped)] == ["stop"]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
