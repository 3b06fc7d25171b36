"""The emulator as its own process (how `make dev` runs it), trusted by a client through the CA file."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import pytest
from google.genai import types

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_standalone_emulator_serves_a_client_trusting_its_ca_file(live, tmp_path, monkeypatch) -> None:
    ca_file = tmp_path / "gemini-ca.pem"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.sim.gemini_live",
        "--api-key",
        "dev-key",
        "--ca-file",
        str(ca_file),
        "--time-to-first-chunk",
        "0.01",
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(20):
            while not (match := re.search(rb"listening on (https://\S+)", await process.stderr.readline())):
                pass
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        sdk = live.make_client(match.group(1).decode(), "dev-key")
        async with sdk.aio.live.connect(model=live.model, config=live.live_config()) as session:
            greet = types.Content(role="user", parts=[types.Part(text="Greet the caller.")])
            await session.send_client_content(turns=greet, turn_complete=True)
            messages = await live.receive_turn(session)
        await sdk.aio.aclose()
        sdk.close()
        assert live.spoken_text(messages).startswith("Thank you for calling")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
