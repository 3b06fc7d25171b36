import asyncio
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from switchboard.devkit.nats_server import free_port
from switchboard.sim.demo_call import wait_for_platform

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_without_a_platform_it_says_so_and_how_to_start_it_instead_of_crashing() -> None:
    api, emulator = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "switchboard.sim.demo_call",
            "--api",
            api,
            "--emulator",
            emulator,
            "--wait",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "waiting for the platform" in done.stdout
    assert "did not answer within 1 s" in done.stderr and "make dev" in done.stderr
    assert "Traceback" not in done.stderr


async def test_it_waits_until_the_api_and_the_emulator_answer() -> None:
    answers = {"/v1/calls": [503, 503, 200], "/_emulator/calls": [200]}

    async def handle(request: web.Request) -> web.Response:
        statuses = answers[request.path]
        return web.json_response([], status=statuses.pop(0) if len(statuses) > 1 else statuses[0])

    app = web.Application()
    app.router.add_get("/v1/calls", handle)
    app.router.add_get("/_emulator/calls", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            await asyncio.wait_for(wait_for_platform(session, url, url, within_s=30), 30)
        assert answers["/v1/calls"] == [200]
    finally:
        await runner.cleanup()


async def test_a_refused_key_ends_the_wait_at_once() -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "unauthorized"}}, status=401)

    app = web.Application()
    app.router.add_get("/v1/calls", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(SystemExit, match="refused the key"):
                await wait_for_platform(session, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", 30)
    finally:
        await runner.cleanup()
