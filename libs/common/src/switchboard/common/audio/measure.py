"""Measure a resampler from the outside, with test tones: rejection, passband flatness, delay.

Every figure comes from running tones through a fresh `StreamResampler` and reading the output with a
single-bin DFT over a fixed window after the start-up transient. All frequencies are whole even numbers of
Hz, so the window holds a whole number of periods of each of them and they do not leak into one another.
Used by the tests and by the benchmark, so that both report the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from switchboard.common.audio._filters import PASSBAND_FRACTION
from switchboard.common.audio.resample import StreamResampler

#: Tones last this long; the analysis window is `WINDOW_S` long, after `SETTLE_S`.
TONE_S = 0.7
SETTLE_S = 0.1
WINDOW_S = 0.5
#: Test tones are at -6 dBFS, so that filter overshoot cannot clip.
AMPLITUDE = 16384.0
#: The flatness is measured from here up to the passband edge.
LOWEST_HZ = 100
#: Tones per sweep (passband, and stopband when going down).
SWEEP_POINTS = 24


@dataclass(frozen=True, slots=True)
class Quality:
    """What `measure` found for one conversion."""

    rejection_db: float  # the headline tone's unwanted product below the tone (see `headline_tone`)
    worst_rejection_db: float  # the least rejection over a sweep of pass- and stopband tones
    ripple_db: float  # largest gain deviation from 0 dB between LOWEST_HZ and `passband_hz`
    delay_ms: float  # measured, from the phase of a low tone
    passband_hz: float


def tone(
    freq_hz: float, rate: int, seconds: float = TONE_S, amplitude: float = AMPLITUDE
) -> npt.NDArray[np.int16]:
    """A sine, rounded to PCM16."""
    t = np.arange(round(seconds * rate)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def component(samples: npt.NDArray[np.int16], rate: int, freq_hz: float) -> complex:
    """Complex amplitude of `freq_hz` in `samples`, over the analysis window, phase relative to t = 0."""
    start, length = round(SETTLE_S * rate), round(WINDOW_S * rate)
    x = samples[start : start + length].astype(np.float64)
    n = np.arange(start, start + length)
    return complex(2 * np.mean(x * np.exp(-2j * np.pi * freq_hz * n / rate)))


def _even(freq_hz: float) -> float:
    return float(2 * round(freq_hz / 2))


def level_db(samples: npt.NDArray[np.int16], rate: int, freq_hz: float) -> float:
    """Amplitude of `freq_hz` in dB relative to full scale (floored at -200 dB)."""
    return 20 * math.log10(max(abs(component(samples, rate, freq_hz)), 1e-10 * 32768) / 32768)


def fold(freq_hz: float, rate: int) -> float:
    """Where `freq_hz` lands once sampled at `rate` (aliasing into 0 .. rate / 2)."""
    f = freq_hz % rate
    return rate - f if f > rate / 2 else f


def unwanted(freq_hz: float, src_rate: int, dst_rate: int) -> list[float]:
    """The output frequencies where a tone's images and aliases land, except the tone's own."""
    wanted = freq_hz if freq_hz < dst_rate / 2 else None
    found: set[float] = set()
    for k in range(max(src_rate, dst_rate) // src_rate * 2 + 2):
        for f in (k * src_rate - freq_hz, k * src_rate + freq_hz):
            if f <= 0:
                continue
            g = fold(f, dst_rate)
            if 0 < g < dst_rate / 2 and (wanted is None or abs(g - wanted) > 20):
                found.add(g)
    return sorted(found)


def headline_tone(src_rate: int, dst_rate: int) -> float:
    """The tone the targets name: 5 kHz into 24k → 8k, 1 kHz into 8k → 16k, and the same shape for others.

    Going down, a tone a quarter above the output's Nyquist frequency (its alias falls in the passband);
    going up, a tone at an eighth of the input rate (its first image falls in the stopband).
    """
    return 1.25 * dst_rate / 2 if dst_rate < src_rate else src_rate / 8


def rejection_db(src_rate: int, dst_rate: int, freq_hz: float) -> float:
    """How far below the input tone the strongest of its images and aliases comes out (inf: none exist)."""
    x = tone(freq_hz, src_rate)
    y = StreamResampler(src_rate, dst_rate).process(x)
    reference = level_db(x, src_rate, freq_hz)
    products = unwanted(freq_hz, src_rate, dst_rate)
    return min((reference - level_db(y, dst_rate, f) for f in products), default=math.inf)


def gain_db(src_rate: int, dst_rate: int, freq_hz: float) -> float:
    """Output level of a tone relative to its input level."""
    x = tone(freq_hz, src_rate)
    y = StreamResampler(src_rate, dst_rate).process(x)
    return level_db(y, dst_rate, freq_hz) - level_db(x, src_rate, freq_hz)


def measured_delay_ms(src_rate: int, dst_rate: int, freq_hz: float = LOWEST_HZ) -> float:
    """Delay from the phase lag of a low tone (unambiguous up to one period: 10 ms at 100 Hz)."""
    x = tone(freq_hz, src_rate)
    y = StreamResampler(src_rate, dst_rate).process(x)
    lag = np.angle(component(x, src_rate, freq_hz) / component(y, dst_rate, freq_hz)) % (2 * np.pi)
    return float(1000 * lag / (2 * np.pi * freq_hz))


def passband_hz(src_rate: int, dst_rate: int) -> float:
    """Upper edge of the flat band the filters are designed for."""
    return PASSBAND_FRACTION * min(src_rate, dst_rate) / 2


def measure(src_rate: int, dst_rate: int, points: int = SWEEP_POINTS) -> Quality:
    """All the figures for one conversion, `points` tones per sweep."""
    edge = passband_hz(src_rate, dst_rate)
    passband = [_even(f) for f in np.linspace(LOWEST_HZ, edge, points)]
    sweep = list(passband)
    if dst_rate < src_rate:
        # Tones the output cannot represent: from the stopband edge to the input's Nyquist frequency.
        stop = (2 - PASSBAND_FRACTION) * dst_rate / 2
        sweep += [_even(f) for f in np.linspace(stop, src_rate / 2 - LOWEST_HZ, points)]
    return Quality(
        rejection_db=rejection_db(src_rate, dst_rate, headline_tone(src_rate, dst_rate)),
        worst_rejection_db=min(rejection_db(src_rate, dst_rate, f) for f in sweep),
        ripple_db=max(abs(gain_db(src_rate, dst_rate, f)) for f in passband),
        delay_ms=measured_delay_ms(src_rate, dst_rate),
        passband_hz=edge,
    )
