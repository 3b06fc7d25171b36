import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from switchboard.common.profiles import ProfileStore
from switchboard.devkit.http_probe import http_get, wait_ready
from switchboard.devkit.nats_server import free_port
from switchboard.sim.gemini_live import GeminiLiveEmulator

from .conftest import API_KEY, Caller

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_GEMINI_", "GEMINI_", "GOOGLE_"))}
    return {**env, "AGENT_GEMINI_LOG_FORMAT": "console", **values}


@pytest.mark.parametrize(
    ("variables", "named"),
    [({"AGENT_GEMINI_API_KEY": "changeme"}, b"AGENT_GEMINI_API_KEY is missing or a placeholder"),
     ({"AGENT_GEMINI_API_KEY": "k", "AGENT_GEMINI_CA_FILE": "/nonexistent.pem"}, b"AGENT_GEMINI_CA_FILE")],
)  # fmt: skip
async def test_start_up_fails_naming_the_bad_setting(variables: dict[str, str], named: bytes) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.agent_gemini.main",
        env=clean_env(**variables),
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert named in stderr


async def test_the_service_process_takes_a_call_serves_metrics_and_drains_on_sigterm(
    nats_url: str,
    gemini: GeminiLiveEmulator,
    ca_file: Path,
    profiles: ProfileStore,  # the call's profile is in the bucket
    caller: Callable[[str], Caller],
) -> None:
    ops = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.agent_gemini.main",
        env=clean_env(
            AGENT_GEMINI_NATS_URL=nats_url,
            AGENT_GEMINI_API_KEY=API_KEY,
            AGENT_GEMINI_BASE_URL=gemini.base_url + "/",
            AGENT_GEMINI_CA_FILE=str(ca_file),
            AGENT_GEMINI_OPS_PORT=str(ops),
            AGENT_GEMINI_DRAIN_TIMEOUT_S="1",
        ),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_ready(f"http://127.0.0.1:{ops}/readyz")
        call = caller("gm-process")
        await call.attach("gemini-receptionist")
        await call.wait_generation_done(1)
        _, metrics = await asyncio.to_thread(http_get, f"http://127.0.0.1:{ops}/metrics")
        assert 'switchboard_agent_active_calls{provider="gemini"} 1.0' in metrics
        assert "switchboard_agent_time_to_first_audio_seconds_count" in metrics
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"agent-gemini" in stderr and b"stopped" in stderr
    assert b"Traceback" not in stderr, stderr.decode()
