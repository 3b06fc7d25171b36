from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from switchboard.sim.phone.heard import HeardAudio

pytestmark = pytest.mark.unit


def timeline() -> HeardAudio:
    pcm = np.zeros(8000, dtype=np.int16)
    pcm[4000:4800] = 10000  # 100 ms at about -10 dBFS, half a second in
    return HeardAudio(pcm, pcm != 0)


def test_queries_answer_in_stream_time() -> None:
    heard = timeline()
    assert heard.duration_s == 1.0
    assert heard.first_sound() == pytest.approx(0.5)
    assert heard.first_energy_above(-20.0) == pytest.approx(0.5)
    assert heard.first_energy_above(-20.0, after_s=0.6) is None
    assert heard.level_dbfs(0.5, 0.6) == pytest.approx(20 * np.log10(10000 / 32768))
    assert heard.level_dbfs(0.0, 0.5) == -120.0
    assert heard.played_ms() == pytest.approx(100.0)
    assert heard.audible_ms(0.4, 0.7) == pytest.approx(100.0)
    assert heard.between(0.5, 0.6).size == 800


def test_a_window_keeps_absolute_times() -> None:
    full = timeline()
    window = HeardAudio(full.pcm[3200:], full.played[3200:], start_s=0.4)
    assert window.end_s == pytest.approx(1.0)
    assert window.first_sound() == pytest.approx(0.5)
    np.testing.assert_array_equal(window.between(0.5, 0.6), full.between(0.5, 0.6))


def test_save_wav(tmp_path: Path) -> None:
    path = tmp_path / "heard.wav"
    timeline().save_wav(path)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (
            1,
            2,
            8000,
            8000,
        )
        samples = np.frombuffer(wav.readframes(8000), dtype="<i2")
    np.testing.assert_array_equal(samples, timeline().pcm)
