import asyncio
import os
import signal
import sys

import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.bus import subjects
from switchboard.common.profiles import ProfileStore
from switchboard.devkit.eventually import eventually
from switchboard.devkit.http_probe import http_get, wait_ready
from switchboard.devkit.nats_server import free_port
from switchboard.sim.openai_realtime import OpenAIRealtimeEmulator

from .conftest import PROFILE, OpenLine, typed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_OPENAI_", "OPENAI_"))}
    return {**env, "AGENT_OPENAI_LOG_FORMAT": "console", **values}


async def test_start_up_fails_naming_the_missing_api_key() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.agent_openai.main",
        env=clean_env(AGENT_OPENAI_API_KEY="changeme"),
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"AGENT_OPENAI_API_KEY is missing or a placeholder" in stderr


async def test_the_service_process_takes_a_call_serves_metrics_and_drains_on_sigterm(
    bus: NatsClient, nats_url: str, emulator: OpenAIRealtimeEmulator, line: OpenLine
) -> None:
    await ProfileStore(await typed(bus).js.key_value(subjects.PROFILES_BUCKET)).put(PROFILE)
    ops = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.agent_openai.main",
        env=clean_env(
            AGENT_OPENAI_NATS_URL=nats_url,
            AGENT_OPENAI_API_KEY="test",
            AGENT_OPENAI_BASE_URL=emulator.base_url,
            AGENT_OPENAI_OPS_PORT=str(ops),
            AGENT_OPENAI_DRAIN_TIMEOUT_S="1",
        ),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_ready(f"http://127.0.0.1:{ops}/readyz")
        async with line("oa-process") as call:
            await call.attach()
            await eventually(lambda: call.finished(1), 10, what="the greeting played out")
            _, metrics = await asyncio.to_thread(http_get, f"http://127.0.0.1:{ops}/metrics")
            assert 'switchboard_agent_active_calls{provider="openai"} 1.0' in metrics
            assert "switchboard_agent_time_to_first_audio_seconds_count" in metrics
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"agent-openai" in stderr and b"stopped" in stderr
