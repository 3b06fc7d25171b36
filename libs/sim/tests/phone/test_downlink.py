from __future__ import annotations

import base64
import json

import pytest

from switchboard.sim.phone.downlink import Downlink
from switchboard.sim.phone.playout import PlayoutBuffer
from switchboard.sim.phone.report import StreamCounters

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def media(sid: str, audio: bytes) -> str:
    return json.dumps(
        {"event": "media", "streamSid": sid, "media": {"payload": base64.b64encode(audio).decode()}}
    )


async def test_server_messages_drive_the_buffer_and_the_echoes() -> None:
    clock = FakeClock()
    echoed: list[str] = []

    async def echo(name: str) -> None:
        echoed.append(name)

    counters = StreamCounters()
    downlink = Downlink("MZ1", PlayoutBuffer(clock=clock), counters, echo)
    await downlink.receive(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "idle"}}))
    await downlink.receive(media("MZ1", b"\x20" * 800))
    await downlink.receive(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "played"}}))
    assert echoed == ["idle"]
    clock.now = 0.05
    await downlink.receive(json.dumps({"event": "clear", "streamSid": "MZ1"}))
    assert echoed == ["idle", "played"]
    assert downlink.buffer.marks[1].cleared

    await downlink.receive(b"\x00")
    await downlink.receive(media("MZ2", b"\x20"))
    await downlink.receive('{"event":"clear"}')
    assert counters.media_received == 1
    assert counters.binary_frames == 1
    assert [v.split(":")[0] for v in counters.violations] == [
        "binary_frame",
        "wrong_stream_sid",
        "missing_stream_sid",
    ]
