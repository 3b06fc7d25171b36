from __future__ import annotations

import numpy as np
import pytest

from switchboard.common.audio.g711 import ulaw_decode
from switchboard.sim.phone.playout import PlayoutBuffer

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def tone(ms: int, code: int = 0x20) -> bytes:
    """`ms` of a constant loud μ-law code (8 bytes per millisecond)."""
    return bytes([code]) * (ms * 8)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def buffer(clock: FakeClock) -> PlayoutBuffer:
    return PlayoutBuffer(clock=clock)


def test_mark_with_nothing_queued_echoes_at_once(buffer: PlayoutBuffer) -> None:
    assert buffer.mark("empty") == ["empty"]
    assert buffer.marks[0].echoed_s == 0.0
    assert not buffer.marks[0].cleared


def test_mark_echoes_when_the_audio_before_it_has_played(clock: FakeClock, buffer: PlayoutBuffer) -> None:
    buffer.append(tone(100))
    assert buffer.mark("a") == []
    buffer.append(tone(50))
    assert buffer.mark("b") == []
    assert buffer.next_due() == pytest.approx(clock.now + 0.1)

    clock.advance(0.099)
    assert buffer.poll() == []
    clock.advance(0.001)
    assert buffer.poll() == ["a"]
    assert buffer.poll() == []
    assert buffer.next_due() == pytest.approx(clock.now + 0.05)
    clock.advance(0.05)
    assert buffer.poll() == ["b"]
    assert buffer.next_due() is None
    assert [(m.name, m.echoed_s, m.due_s) for m in buffer.marks] == [
        ("a", pytest.approx(0.1), pytest.approx(0.1)),
        ("b", pytest.approx(0.15), pytest.approx(0.15)),
    ]


def test_audio_arriving_after_an_underrun_plays_from_arrival(clock: FakeClock, buffer: PlayoutBuffer) -> None:
    buffer.append(tone(20))
    clock.advance(0.05)
    assert buffer.queued_samples == 0
    buffer.append(tone(20))
    assert [(s.start, s.end) for s in buffer.segments] == [(0, 160), (400, 560)]
    assert buffer.mark("m") == []
    clock.advance(0.02)
    assert buffer.poll() == ["m"]


def test_audio_appended_while_playing_is_queued_behind(clock: FakeClock, buffer: PlayoutBuffer) -> None:
    buffer.append(tone(100))
    clock.advance(0.03)
    buffer.append(tone(40))
    assert [(s.start, s.end) for s in buffer.segments] == [(0, 800), (800, 1120)]
    assert buffer.queued_ms == pytest.approx(110.0)


def test_clear_drops_unplayed_audio_and_echoes_pending_marks_at_once(
    clock: FakeClock, buffer: PlayoutBuffer
) -> None:
    buffer.append(tone(100))
    buffer.mark("first")
    buffer.append(tone(400))
    buffer.mark("second")
    buffer.mark("third")
    clock.advance(0.2)

    assert buffer.clear() == ["first", "second", "third"]
    (clear,) = buffer.clears
    assert clear.at_s == pytest.approx(0.2)
    assert clear.dropped_ms == pytest.approx(300.0)
    assert clear.echoed_marks == ("second", "third")
    assert clear.generation == 0
    first, second, third = buffer.marks
    assert not first.cleared and first.echoed_s == pytest.approx(0.2)
    assert second.cleared and third.cleared
    assert buffer.queued_samples == 0
    assert buffer.next_due() is None
    assert [(s.start, s.end) for s in buffer.segments] == [(0, 800), (800, 1600)]

    # Audio after the clear belongs to a new generation and starts playing at once.
    buffer.append(tone(20))
    assert buffer.segments[-1].start == 1600
    assert buffer.segments[-1].generation == 1
    assert buffer.mark("after") == []
    clock.advance(0.02)
    assert buffer.poll() == ["after"]


def test_clear_with_nothing_queued(buffer: PlayoutBuffer) -> None:
    assert buffer.clear() == []
    assert buffer.clears[0].dropped_samples == 0


def test_heard_timeline_has_silence_where_the_buffer_was_empty(
    clock: FakeClock, buffer: PlayoutBuffer
) -> None:
    clock.advance(0.1)
    buffer.append(tone(50, 0x20))
    clock.advance(0.2)
    buffer.append(tone(100, 0xA0))
    clock.advance(0.05)
    buffer.clear()  # 50 ms of the second piece played, 50 ms dropped
    clock.advance(0.1)

    heard = buffer.heard()
    assert heard.duration_s == pytest.approx(0.45)
    loud, loud_negative = ulaw_decode(b"\x20")[0], ulaw_decode(b"\xa0")[0]
    expected = np.zeros(3600, dtype=np.int16)
    expected[800:1200] = loud
    expected[2400:2800] = loud_negative
    np.testing.assert_array_equal(heard.pcm, expected)
    assert heard.played_ms() == pytest.approx(100.0)
    assert heard.first_sound() == pytest.approx(0.1)
    assert heard.first_energy_above(-30.0, after_s=0.2) == pytest.approx(0.3)
    assert heard.audible_ms() == pytest.approx(100.0)
    np.testing.assert_array_equal(heard.between(0.3, 0.35), expected[2400:2800])

    window = buffer.heard(since_s=0.29)
    assert window.start_s == pytest.approx(0.29)
    np.testing.assert_array_equal(window.pcm, expected[2320:])
    assert window.first_sound() == pytest.approx(0.3)


def test_heard_only_includes_what_has_played_so_far(clock: FakeClock, buffer: PlayoutBuffer) -> None:
    buffer.append(tone(1000))
    clock.advance(0.25)
    assert buffer.heard().played_ms() == pytest.approx(250.0)


def test_hang_up_freezes_the_timeline_and_leaves_marks_unechoed(
    clock: FakeClock, buffer: PlayoutBuffer
) -> None:
    buffer.append(tone(500))
    buffer.mark("never")
    clock.advance(0.1)
    buffer.hang_up()
    clock.advance(1.0)
    assert buffer.poll() == []
    assert buffer.pending_marks == ("never",)
    assert buffer.heard().duration_s == pytest.approx(0.1)
    assert buffer.segments[-1].end == 800
    buffer.append(tone(20))
    assert len(buffer.segments) == 1


def test_more_than_ten_minutes_buffered_is_discarded(buffer: PlayoutBuffer) -> None:
    buffer.append(bytes([0x20]) * (600 * 8000))
    buffer.append(tone(100))
    assert buffer.overflow_samples == 800
    assert buffer.queued_samples == 600 * 8000
