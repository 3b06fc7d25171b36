import asyncio
import base64
import json
import time

import pytest

from switchboard.common.audio.conversion import PerGeneration
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import Playout
from switchboard.common.runtime.metrics import new_registry
from switchboard.media_edge.downlink import Downlink, PacingOptions
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.playback import TwilioPlayback
from switchboard.media_edge.twilio import OutboundEncoder

from .conftest import wait_for

pytestmark = pytest.mark.unit


class FakeTwilio:
    """Collects what the downlink sends, with the time it was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, object]]] = []
        self.reports: list[Playout] = []

    async def send(self, text: str) -> None:
        self.sent.append((time.monotonic(), json.loads(text)))

    async def report(self, playout: Playout) -> None:
        self.reports.append(playout)

    def events(self) -> list[str]:
        return [str(message["event"]) for _, message in self.sent]

    def media(self) -> list[tuple[float, bytes]]:
        return [
            (at, base64.b64decode(message["media"]["payload"]))  # type: ignore[index]
            for at, message in self.sent
            if message["event"] == "media"
        ]

    def marks(self) -> list[str]:
        return [message["mark"]["name"] for _, message in self.sent if message["event"] == "mark"]  # type: ignore[index]


def make(twilio: FakeTwilio, **options: float) -> Downlink:
    return Downlink(
        playback=TwilioPlayback(OutboundEncoder("MZ1"), twilio.send),
        report=twilio.report,
        metrics=EdgeMetrics(new_registry()),
        options=PacingOptions(**options),
        started_at=time.monotonic(),
    )


async def echo(downlink: Downlink, mark: str) -> None:
    """Twilio echoed `mark`."""
    playback = downlink.playback
    assert isinstance(playback, TwilioPlayback)
    now = time.monotonic()
    await downlink.on_confirmed(playback.echoed(mark, now), now)


def frame(generation: int, index: int, fill: int = 0x55) -> AudioFrame:
    return AudioFrame("c-1", index, index * 20, time.time_ns(), generation, bytes([fill]) * 160)


async def test_a_burst_is_paced_a_bounded_lead_ahead_of_real_time() -> None:
    twilio = FakeTwilio()
    downlink = make(twilio, lead_s=0.06, min_chunk_s=0.02)
    pacing = asyncio.create_task(downlink.run())
    started = time.monotonic()
    for index in range(15):  # 300 ms, published at once
        await downlink.on_frame(frame(1, index))
    assert sum(len(audio) for _, audio in twilio.media()) <= 480 + 160  # the lead, at most one chunk more
    await asyncio.sleep(0.35)
    await downlink.close()
    await pacing
    sent = 0
    for at, audio in twilio.media():
        sent += len(audio)
        assert sent / 8000 - (at - started) <= 0.06 + 0.02 + 0.005, "more than the lead ahead of real time"
    assert sent == 15 * 160
    assert twilio.events()[:2] == ["media", "mark"]
    assert len(twilio.marks()) == len(twilio.media())


async def test_a_clear_goes_out_at_once_drops_the_generation_and_reports_what_played() -> None:
    twilio = FakeTwilio()
    downlink = make(twilio, lead_s=0.1)
    pacing = asyncio.create_task(downlink.run())
    for index in range(50):
        await downlink.on_frame(frame(1, index))
    await asyncio.sleep(0.05)
    before_clear = time.monotonic()
    await downlink.clear(1, time.perf_counter())
    after_clear = time.monotonic()
    assert twilio.events()[-1] == "clear"
    first_sent = twilio.media()[0][0]
    sent_ms = sum(len(audio) for _, audio in twilio.media()) / 8
    sent_before = len(twilio.media())
    for index in range(50, 55):
        await downlink.on_frame(frame(1, index))  # still arriving: dropped
    await asyncio.sleep(0.1)
    assert len(twilio.media()) == sent_before
    final = [report for report in twilio.reports if report.final]
    assert [report.generation for report in final] == [1]
    # Nothing echoed: the clock says what played, read somewhere between the two instants around the clear
    # (bracketed rather than compared to a tolerance: a loaded machine may pause this test between the two).
    played_by = [min(sent_ms, (at - first_sent) * 1000) for at in (before_clear, after_clear)]
    assert played_by[0] - 1 <= final[0].played_ms <= played_by[1] + 1
    await downlink.on_frame(frame(2, 0, fill=0x22))
    assert twilio.media()[-1][1] == bytes([0x22]) * 160
    await downlink.close()
    await pacing


async def test_echoes_that_a_clear_causes_do_not_count_as_played() -> None:
    twilio = FakeTwilio()
    downlink = make(twilio, lead_s=0.1)
    for index in range(5):
        await downlink.on_frame(frame(1, index))
    marks = twilio.marks()
    await downlink.clear(1, time.perf_counter())
    for name in marks:  # what Twilio does on clear: every pending mark echoed at once
        await echo(downlink, name)
    final = [report for report in twilio.reports if report.final]
    assert len(final) == 1 and final[0].played_ms < 20
    await downlink.close()


async def test_echoes_report_progress_and_a_finished_generation_gets_a_final_report() -> None:
    twilio = FakeTwilio()
    downlink = make(twilio, lead_s=1.0, report_interval_s=0.04, end_idle_s=0.05)
    pacing = asyncio.create_task(downlink.run())
    for index in range(5):
        await downlink.on_frame(frame(1, index))
    for name in twilio.marks():
        await echo(downlink, name)
    await wait_for(lambda: any(r.final for r in twilio.reports), 2.0)
    assert twilio.reports[-1] == Playout(
        generation=1, played_ms=100, final=True, ts_ns=twilio.reports[-1].ts_ns
    )
    assert all(not r.final for r in twilio.reports[:-1])
    await downlink.close()
    await pacing


async def test_clearing_an_older_generation_sends_the_newer_one_again() -> None:
    twilio = FakeTwilio()
    downlink = make(twilio, lead_s=1.0)
    await downlink.on_frame(frame(1, 0, fill=0x11))
    await downlink.on_frame(frame(2, 0, fill=0x22))
    await downlink.clear(1, time.perf_counter())
    await downlink.on_frame(frame(2, 1, fill=0x22))
    audio = [payload for _, payload in twilio.media()]
    assert audio[-2:] == [bytes([0x22]) * 160] * 2 or audio[-1] == bytes([0x22]) * 320
    assert twilio.events().count("clear") == 1
    await downlink.close()


async def test_the_highest_generation_counts_audio_seen_and_generations_cleared() -> None:
    twilio = FakeTwilio()
    downlink = make(twilio)
    assert downlink.highest_generation == -1
    await downlink.on_frame(frame(2, 0))
    await downlink.on_frame(frame(1, 0))  # a straggler changes nothing
    assert downlink.highest_generation == 2
    await downlink.clear(5, time.perf_counter())  # cleared before any of it arrived
    assert downlink.highest_generation == 5
    await downlink.close()


async def test_the_highest_generation_follows_the_answers_of_the_call_s_audio_route() -> None:
    twilio = FakeTwilio()
    downlink = make(twilio)
    downlink.answers = PerGeneration(None)  # as the call's audio route sets it once the agent is attached
    await downlink.on_frame(frame(7, 0))
    assert downlink.highest_generation == 7  # what a re-attached agent must number its answers above
    await downlink.close()
