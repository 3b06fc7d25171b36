from __future__ import annotations

import pytest

from switchboard.sim.phone.pacing import PacingStats
from switchboard.sim.phone.playout import PlayoutBuffer
from switchboard.sim.phone.report import (
    StreamCounters,
    StreamRecord,
    build_report,
    caller_speech_end,
    find_gaps,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def loud(ms: int) -> bytes:
    return b"\x20" * (ms * 8)


def record(buffer: PlayoutBuffer, speech: list[tuple[float, float]] | None = None) -> StreamRecord:
    return StreamRecord(
        stream_sid="MZ1",
        call_sid="CA1",
        heard=buffer.heard(),
        segments=buffer.segments,
        clears=buffer.clears,
        marks=buffer.marks,
        overflow_samples=buffer.overflow_samples,
        caller_speech=speech or [],
        pacing=PacingStats(frames=50, late_frames=1, max_lateness_ms=25.0, total_lateness_ms=30.0),
        counters=StreamCounters(media_received=4, close_code=1000, closed_by="phone"),
    )


def test_report_of_a_call_with_an_underrun_and_a_barge_in() -> None:
    clock = FakeClock()
    buffer = PlayoutBuffer(clock=clock)
    clock.now = 0.5
    buffer.append(loud(200))  # plays 0.5 → 0.7
    buffer.mark("m1")
    clock.now = 0.75
    buffer.poll()
    buffer.append(loud(500))  # underrun of 50 ms, plays 0.75 → 1.25
    buffer.mark("m2")
    clock.now = 1.0
    buffer.clear()  # drops 250 ms, echoes m2
    clock.now = 1.1
    buffer.append(loud(100))  # leaked audio of the old answer: plays 1.1 → 1.2
    clock.now = 3.0
    buffer.append(loud(100))  # the new answer, after the caller stopped talking
    clock.now = 3.2
    buffer.hang_up()

    report = build_report(record(buffer, speech=[(0.9, 1.5)]))

    assert report.time_to_first_audio_ms == pytest.approx(500.0)
    assert report.duration_s == pytest.approx(3.2)
    assert report.heard_ms == pytest.approx(200 + 250 + 100 + 100)
    assert [(g.start_s, g.duration_ms) for g in report.gaps] == [(pytest.approx(0.7), pytest.approx(50.0))]
    (clear,) = report.clears
    assert clear.at_s == pytest.approx(1.0)
    assert clear.dropped_ms == pytest.approx(250.0)
    assert clear.echoed_marks == ("m2",)
    assert clear.window_end_s == pytest.approx(1.5)
    assert clear.heard_after_ms == pytest.approx(100.0)
    assert (report.marks_received, report.marks_echoed, report.marks_echoed_by_clear) == (2, 2, 1)
    assert report.marks_unechoed == 0
    assert (report.media_sent, report.late_frames, report.max_lateness_ms) == (50, 1, 25.0)
    summary = report.summary()
    assert "first audio after 500 ms" in summary
    assert "clear at 1.000 s: dropped 250 ms, heard 100 ms after" in summary


def test_report_of_a_silent_call() -> None:
    clock = FakeClock()
    buffer = PlayoutBuffer(clock=clock)
    clock.now = 2.0
    report = build_report(record(buffer))
    assert report.time_to_first_audio_ms is None
    assert report.heard_ms == 0.0
    assert report.gaps == ()
    assert "first audio after never" in report.summary()


def test_long_pauses_are_turns_not_underruns() -> None:
    clock = FakeClock()
    buffer = PlayoutBuffer(clock=clock)
    buffer.append(loud(100))
    clock.now = 2.0
    buffer.append(loud(100))
    assert find_gaps(buffer.segments) == ()
    assert len(find_gaps(buffer.segments, underrun_max_s=5.0)) == 1


def test_caller_speech_end_chains_back_to_back_utterances() -> None:
    speech = [(0.0, 0.5), (1.0, 2.0), (2.01, 3.0), (4.0, 5.0)]
    assert caller_speech_end(speech, 1.5) == 3.0
    assert caller_speech_end(speech, 0.7) == 0.7
    assert caller_speech_end(speech, 4.5) == 5.0


def test_audio_delivered_before_a_flush_is_not_counted_after_it_and_audio_sent_after_it_is() -> None:
    # A SIP leg: nothing is dropped at the clear; each piece says when it reached the phone's side.
    clock = FakeClock()
    buffer = PlayoutBuffer(clock=clock)
    clock.now = 0.5
    buffer.append(loud(100), received_s=0.45)  # in flight at the clear: plays 0.5 → 0.6, after it
    clock.now = 0.55
    buffer.clear(drop=False)
    buffer.append(loud(20), received_s=0.56)  # sent after the flush: counted
    buffer.append(b"\xff" * 160, received_s=0.58)  # silence after it: not counted
    clock.now = 1.0

    (clear,) = build_report(record(buffer)).clears

    assert clear.dropped_ms == 0.0
    assert clear.heard_after_ms == pytest.approx(20.0)
    assert buffer.heard(0.55).audible_ms() > 60  # the caller did hear the in-flight audio play out
