"""Speech for the emulators: espeak-ng where it is installed, else a synthetic voiced signal.

The synthetic voice is a glottal pulse train shaped by three vowel formants and a syllable envelope. It has the
energy contour and spectrum of speech (so voice-activity detectors and codecs treat it like speech) and its
duration grows with the text, which keeps scripted conversations realistic in timing.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave
from typing import Literal

import numpy as np
import numpy.typing as npt

Voice = Literal["auto", "espeak", "synthetic"]

_SYLLABLE_S = 0.18
_VOWEL_FORMANTS = (
    (730, 1090, 2440),
    (270, 2290, 3010),
    (300, 870, 2240),
    (530, 1840, 2480),
    (570, 840, 2410),
)


def espeak_available() -> bool:
    """Whether the espeak-ng binary is on PATH."""
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, rate: int, *, language: str = "en", voice: Voice = "auto") -> npt.NDArray[np.int16]:
    """Speak `text` as mono PCM16 at `rate` Hz."""
    if voice == "espeak" or (voice == "auto" and espeak_available()):
        return _espeak(text, rate, language)
    return synthetic_voice(text, rate)


@functools.lru_cache(maxsize=256)
def _espeak_cached(text: str, language: str) -> tuple[bytes, int]:
    completed = subprocess.run(
        ["espeak-ng", "-v", language, "-s", "165", "--stdout", text],
        check=True,
        capture_output=True,
        timeout=30,
    )
    with wave.open(io.BytesIO(completed.stdout)) as wav:
        return wav.readframes(wav.getnframes()), wav.getframerate()


def _espeak(text: str, rate: int, language: str) -> npt.NDArray[np.int16]:
    raw, source_rate = _espeak_cached(text, language)
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float64)
    return _to_int16(_linear_resample(samples, source_rate, rate))


def synthetic_voice(text: str, rate: int, *, pitch_hz: float = 140.0) -> npt.NDArray[np.int16]:
    """A deterministic speech-like signal whose length follows the number of syllables in `text`."""
    syllables = max(1, sum(1 for ch in text.lower() if ch in "aeiouáéíóúü"))
    return _cached_synthetic(syllables, rate, pitch_hz, abs(hash(text)) % (2**32)).copy()


@functools.lru_cache(maxsize=256)
def _cached_synthetic(syllables: int, rate: int, pitch_hz: float, seed: int) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    per_syllable = int(_SYLLABLE_S * rate)
    out = np.zeros(per_syllable * syllables, dtype=np.float64)
    t = np.arange(per_syllable) / rate
    envelope = np.sin(np.pi * np.arange(per_syllable) / per_syllable) ** 0.7
    for index in range(syllables):
        f0 = pitch_hz * (1.0 + 0.08 * np.sin(index * 0.9))
        phase = np.cumsum(np.full(per_syllable, f0 / rate))
        source = (phase % 1.0) - 0.5
        formants = _VOWEL_FORMANTS[int(rng.integers(len(_VOWEL_FORMANTS)))]
        voiced = np.zeros(per_syllable)
        for number, formant in enumerate(formants):
            if formant < rate / 2:
                voiced += np.sin(2 * np.pi * formant * t + source * 6.0) * (0.6 / (number + 1))
        syllable = voiced * (0.5 + source) * envelope
        out[index * per_syllable : (index + 1) * per_syllable] = syllable
    peak = float(np.max(np.abs(out))) or 1.0
    return _to_int16(out / peak * 12000.0)


def silence(duration_s: float, rate: int) -> npt.NDArray[np.int16]:
    """`duration_s` of digital silence."""
    return np.zeros(int(duration_s * rate), dtype=np.int16)


def _linear_resample(
    samples: npt.NDArray[np.float64], source_rate: int, rate: int
) -> npt.NDArray[np.float64]:
    if source_rate == rate or samples.size == 0:
        return samples
    duration = samples.size / source_rate
    target = np.arange(int(duration * rate)) / rate
    return np.interp(target, np.arange(samples.size) / source_rate, samples)


def _to_int16(samples: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)
