import asyncio
import socket
import sys

import aiohttp
import pytest
from twilio.rest import Client

from .conftest import RewritingClient, WebServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ACCOUNT = "AC" + "ab" * 16
TOKEN = "cli-auth-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_command_line_emulator_serves_the_api_and_places_inbound_calls(
    web_server: WebServer,
) -> None:
    port = free_port()
    web_server.answers["/voice"] = "<Response><Say>hello</Say></Response>"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.sim.twilio_rest",
        f"--port={port}",
        f"--account-sid={ACCOUNT}",
        f"--auth-token={TOKEN}",
        "--ring-seconds=0",
        f"--number=+12025550111={web_server.base_url}/voice",
        stderr=asyncio.subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    http = RewritingClient(base_url)
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(1200):  # up to 60 s: a cold start on a loaded machine
                try:
                    async with session.get(f"{base_url}/_emulator/calls") as listed:
                        assert await listed.json() == []
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)
            sdk = Client(ACCOUNT, TOKEN, http_client=http)
            created = await sdk.api.v2010.account.calls.create_async(
                to="+14155550100", from_="+12025550111", twiml="<Response><Hangup/></Response>"
            )
            assert created.status == "queued"
            async with session.post(
                f"{base_url}/_emulator/inbound", json={"from": "+14155550199", "to": "+12025550111"}
            ) as placed:
                assert placed.status == 201
            await web_server.wait_for(lambda: bool(web_server.to("/voice")))
            [(_, params, _)] = web_server.to("/voice")
            assert (params["From"], params["To"], params["Direction"]) == (
                "+14155550199",
                "+12025550111",
                "inbound",
            )
    finally:
        await http.close()
        process.terminate()
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-2000:]
