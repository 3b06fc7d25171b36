import asyncio
import os
import sys

import httpx
import pytest

from switchboard.devkit.nats_server import free_port
from switchboard.sim.twilio_rest import TwilioRestEmulator

from .conftest import API_KEY, AUTH_TOKEN, FROM_NUMBER, PUBLIC_STREAM_URL, REPO, STREAM_SECRET

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def environment(twilio: TwilioRestEmulator, nats_url: str, http_port: int, ops_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "CALL_CONTROL_NATS_URL": nats_url,
        "CALL_CONTROL_HTTP_HOST": "127.0.0.1",
        "CALL_CONTROL_HTTP_PORT": str(http_port),
        "CALL_CONTROL_OPS_PORT": str(ops_port),
        "CALL_CONTROL_API_KEYS": API_KEY,
        "CALL_CONTROL_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "CALL_CONTROL_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "CALL_CONTROL_TWILIO_FROM_NUMBER": FROM_NUMBER,
        "CALL_CONTROL_TWILIO_API_BASE_URL": twilio.base_url,
        "CALL_CONTROL_PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
        "CALL_CONTROL_MEDIA_STREAM_URL": PUBLIC_STREAM_URL,
        "CALL_CONTROL_STREAM_SECRET": STREAM_SECRET,
        "CALL_CONTROL_PROFILES_DIR": str(REPO / "profiles"),
        "CALL_CONTROL_LOG_FORMAT": "console",
    }


async def test_the_service_starts_serves_and_stops_on_sigterm(
    twilio: TwilioRestEmulator, nats_url: str
) -> None:
    http_port, ops_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.call_control.main",
        env=environment(twilio, nats_url, http_port, ops_port),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            async with asyncio.timeout(60):  # a cold start on a loaded machine takes a while
                while True:
                    assert process.returncode is None, "call-control exited during start-up"
                    try:
                        ready = await client.get(f"http://127.0.0.1:{ops_port}/readyz")
                        if ready.status_code == 200:
                            break
                    except httpx.ConnectError:
                        pass
                    await asyncio.sleep(0.05)
            created = await client.post(
                f"http://127.0.0.1:{http_port}/v1/calls",
                json={"to": "+14155550100", "profile": "receptionist-openai"},
            )
            assert created.status_code == 201, created.text
            assert (await client.get(f"http://127.0.0.1:{http_port}/docs")).status_code == 200
            metrics = (await client.get(f"http://127.0.0.1:{ops_port}/metrics")).text
            assert (
                'switchboard_call_control_call_attempts_total{direction="outbound",outcome="dialed"} 1.0'
                in metrics
            )
            assert 'route="/v1/calls"' in metrics
    finally:
        process.terminate()
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-2000:]


async def test_a_missing_secret_stops_the_start_naming_it(twilio: TwilioRestEmulator, nats_url: str) -> None:
    env = environment(twilio, nats_url, free_port(), free_port())
    del env["CALL_CONTROL_STREAM_SECRET"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.call_control.main", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"CALL_CONTROL_STREAM_SECRET" in stderr and b"Traceback" not in stderr
