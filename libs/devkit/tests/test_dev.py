import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from switchboard.devkit.dev_banner import DEMO_LINE
from switchboard.devkit.http_probe import http_get
from switchboard.sim.openai_realtime.script import english_receptionist

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("transcoder", "media-edge", "agent-openai", "agent-gemini", "call-control")
EMULATORS = ("twilio-emulator", "livekit-emulator", "openai-emulator", "gemini-emulator")


class Output:
    """The runner's output, line by line, as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self._process = process

    async def read(self) -> None:
        assert self._process.stdout is not None
        async for raw in self._process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            self.changed.set()
        self.changed.set()

    async def wait_for(self, pattern: str, within_s: float) -> int:
        async with asyncio.timeout(within_s):
            while True:
                for index, line in enumerate(self.lines):
                    if re.search(pattern, line):
                        return index
                self.changed.clear()
                await self.changed.wait()


async def test_the_dev_platform_says_ready_once_everything_is_and_ctrl_c_stops_it_quietly_nats_last(
    tmp_path: Path,
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "GEMINI_API_KEY", "TWILIO_AUTH_TOKEN")
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.devkit.dev",
        "--free-ports",
        "--state-dir",
        str(tmp_path),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group, as in a terminal: Ctrl-C goes to the whole group
    )
    output = Output(process)
    reading = asyncio.create_task(output.read())
    try:
        ready = await output.wait_for(r"^READY in", 240)
        # At the moment the banner shows, every service answers ready.
        banner = "\n".join(output.lines[ready:])
        ops = dict(re.findall(r"([a-z-]+) :(\d+)", banner.split("  ops", 1)[1].split("\n", 1)[0]))
        assert sorted(ops) == sorted(SERVICES)
        for name, port in ops.items():
            assert await asyncio.to_thread(http_get, f"http://127.0.0.1:{port}/readyz") == (200, "ready\n"), (
                name
            )
        api = re.search(r"API docs +(http://\S+)/docs", banner)
        assert api is not None and api.group(1).startswith("http://127.0.0.1:")
        assert (await asyncio.to_thread(http_get, f"{api.group(1)}/docs"))[0] == 200
        assert "listening on 127.0.0.1 only" in banner
        tools = re.search(r"NATS tools +(nats://dev:\S+@127\.0\.0\.1:\d+)", banner)
        assert tools is not None, "the banner tells how to connect to NATS with every right"
        assert "demo voice" in banner and ("espeak-ng" in banner or "synthetic" in banner)
        assert f"switchboard-call --say '{DEMO_LINE}'" in banner
        assert DEMO_LINE == english_receptionist().turns[0].caller_says, (
            "the demo line fits the default profile"
        )
        assert not any(line.startswith("READY") for line in output.lines[:ready])

        await output.wait_for(r"^={20}", 5)  # the banner's last line
        sent = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        async with asyncio.timeout(60):
            code = await process.wait()
            await reading
        took = time.monotonic() - sent
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        reading.cancel()
    print(f"stopped {took:.2f} s after Ctrl-C")  # the figure for the reader; the benchmark owns it
    lines = output.lines
    assert code == 0, "\n".join(lines[-30:])
    assert lines[-1] == "switchboard: NATS stopped"
    noisy = [line for line in lines if re.search(r"WARNING|ERROR|Traceback|refused", line)]
    assert noisy == []
    exits = {m.group(1): (index, int(m.group(2))) for index, line in enumerate(lines)
             if (m := re.match(r"^\s*([a-z-]+) \| exited with (-?\d+)$", line))}  # fmt: skip
    assert sorted(exits) == sorted(SERVICES + EMULATORS)
    assert {name: code for name, (_, code) in exits.items()} == dict.fromkeys(exits, 0), (
        "none had to be killed"
    )
    assert max(exits[name][0] for name in SERVICES) < min(exits[name][0] for name in EMULATORS)
    nats_log = (tmp_path / "nats.log").read_text(encoding="utf-8")
    assert "Violation" not in nats_log, (
        "every service was allowed what it did (deploy/k8s/nats-authorization.conf)"
    )
