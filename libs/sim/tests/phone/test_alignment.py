from __future__ import annotations

import numpy as np
import pytest

from switchboard.sim.phone.alignment import heard_span, locate
from switchboard.sim.phone.heard import HeardAudio
from switchboard.sim.phone.messages import SAMPLE_RATE
from switchboard.sim.speech import synthetic_voice

pytestmark = pytest.mark.unit


def test_the_reference_is_found_on_the_timeline_and_the_cut_measured() -> None:
    reference = synthetic_voice("We have openings on Tuesday at nine in the morning.", SAMPLE_RATE)
    pcm = np.zeros(SAMPLE_RATE * 4, dtype=np.int16)
    starts, cut = int(0.73 * SAMPLE_RATE), int(1.2 * SAMPLE_RATE)  # 1.2 s of the answer heard, from 0.73 s
    pcm[starts : starts + cut] = reference[:cut]
    heard = HeardAudio(pcm, np.ones(pcm.size, dtype=np.bool_), start_s=2.0)

    start_s = locate(heard, reference, 2.2, 3.5)
    span = heard_span(heard, reference, start_s, 5.5)

    assert start_s == pytest.approx(2.73, abs=0.001)
    assert span.heard_ms == pytest.approx(1200, abs=10)
    assert span.distance_ms(1200) == 0.0
    assert span.distance_ms(1100) == pytest.approx(100, abs=10)
    assert span.distance_ms(span.silent_until_ms + 30) == pytest.approx(30)


def test_the_phones_underruns_are_not_counted_as_heard() -> None:
    reference = synthetic_voice("We have openings on Tuesday at nine in the morning.", SAMPLE_RATE)
    cut, hole = int(1.2 * SAMPLE_RATE), int(0.06 * SAMPLE_RATE)  # 60 ms of nothing after the first 0.5 s
    first = int(0.5 * SAMPLE_RATE)
    pcm = np.concatenate(
        [reference[:first], np.zeros(hole, np.int16), reference[first:cut], np.zeros(8000, np.int16)]
    )
    played = np.ones(pcm.size, dtype=np.bool_)
    played[first : first + hole] = False
    heard = HeardAudio(pcm, played)

    span = heard_span(heard, reference, locate(heard, reference, 0.0, 1.0), 2.5)

    assert span.heard_ms == pytest.approx(1200, abs=10)


def test_frames_lost_on_the_way_do_not_shorten_how_far_the_caller_got() -> None:
    reference = synthetic_voice("We have openings on Tuesday at nine in the morning.", SAMPLE_RATE)
    lost = slice(int(0.4 * SAMPLE_RATE), int(0.5 * SAMPLE_RATE))  # 100 ms of the answer never arrived
    pcm = np.concatenate([np.delete(reference[: int(1.2 * SAMPLE_RATE)], lost), np.zeros(8000, np.int16)])
    heard = HeardAudio(pcm, np.ones(pcm.size, dtype=np.bool_))

    span = heard_span(heard, reference, locate(heard, reference, 0.0, 0.3), 2.0)

    assert span.heard_ms == pytest.approx(1200, abs=5)
