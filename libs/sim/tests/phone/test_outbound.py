from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from switchboard.sim.phone.outbound import SILENCE_FRAME, CallerAudio, Utterance, load_wav, resample

pytestmark = pytest.mark.unit


def test_frames_are_silence_until_something_is_said() -> None:
    caller = CallerAudio()
    assert caller.next_frame(0.0) == SILENCE_FRAME
    assert SILENCE_FRAME == b"\xff" * 160


async def test_utterances_are_cut_into_frames_and_padded_with_silence() -> None:
    caller = CallerAudio()
    first = Utterance(b"\x01" * 400, "first")
    second = Utterance(b"\x02" * 160, "second")
    caller.queue(first)
    caller.queue(second)
    frames = [caller.next_frame(0.02 * n) for n in range(5)]
    assert frames[0] == frames[1] == b"\x01" * 160
    assert frames[2] == b"\x01" * 80 + b"\xff" * 80
    assert frames[3] == b"\x02" * 160
    assert frames[4] == SILENCE_FRAME
    assert (first.start_s, first.end_s) == (0.0, pytest.approx(0.05))
    assert (second.start_s, second.end_s) == (pytest.approx(0.06), pytest.approx(0.08))
    assert first.done and second.done
    await first.wait()
    assert caller.speech_intervals() == [
        (0.0, pytest.approx(0.05)),
        (pytest.approx(0.06), pytest.approx(0.08)),
    ]


def test_cancel_releases_queued_utterances() -> None:
    caller = CallerAudio()
    utterance = Utterance(b"\x01" * 1000)
    caller.queue(utterance)
    caller.cancel()
    assert utterance.done
    assert not caller.speaking


def test_load_wav_downmixes_and_resamples(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(rate) / rate
    left = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    stereo = np.stack([left, left], axis=1)
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(stereo.astype("<i2").tobytes())

    samples = load_wav(path)
    assert samples.dtype == np.int16
    assert samples.size == 8000
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    assert np.argmax(spectrum) == 440  # 1 s of audio: bin n is n Hz
    assert np.max(np.abs(samples[100:-100])) == pytest.approx(10000, rel=0.02)


def test_resampling_down_removes_what_the_new_rate_cannot_carry() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    above_nyquist = np.sin(2 * np.pi * 6000 * t) * 10000
    out = resample(above_nyquist, rate, 8000)
    assert np.sqrt(np.mean(out[200:-200] ** 2)) < 100  # would alias to 2 kHz at full level otherwise
