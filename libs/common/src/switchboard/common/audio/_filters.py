"""Anti-alias / anti-image lowpass filters for the integer-ratio resamplers.

Every filter is a Kaiser-windowed sinc cut off at the low rate's Nyquist frequency, evaluated at the high
rate (`low * factor`), with `TAPS * factor + 1` taps. That shape has two properties the kernels rely on:

* the sinc's zeros fall on every `factor`-th tap from the centre, so one polyphase branch is a single tap
  (the centre) and each of the other `factor - 1` branches has exactly `TAPS` taps: the kernels are compiled
  for that one length, and a factor of 3 costs two branches of work, not three;
* the group delay is `TAPS / 2` samples at the low rate whatever the factor: 2.125 ms for 8 kHz.

The transition band is the same fraction of the low rate for every pair: passband to 0.85 x Nyquist
(3.4 kHz for 8 kHz, 6.8 kHz for 16 kHz, 10.2 kHz for 24 kHz), stopband from the mirror image 1.15 x Nyquist,
so nothing folds back into the passband by less than the stopband attenuation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Taps of each non-trivial polyphase branch. The kernels are specialised for this length.
TAPS = 34
#: Stopband attenuation the Kaiser window is shaped for (the targets ask for 70 dB).
STOPBAND_DB = 80.0
#: Passband edge as a fraction of the low rate's Nyquist frequency; the stopband starts at `2 - this`.
PASSBAND_FRACTION = 0.85
#: Integer conversion factors the kernels implement.
FACTORS = (2, 3)


@dataclass(frozen=True, slots=True)
class Lowpass:
    """One filter, laid out for the kernels.

    `branches[b, t]` (b = 1 .. factor - 1) multiplies the `t`-th oldest of the `TAPS` input samples the
    branch reads; row 0 is unused (zeros), because branch 0 is the single centre tap `center`.
    """

    factor: int
    low_rate: int
    taps: npt.NDArray[np.float64]
    branches: npt.NDArray[np.float32]
    center: float

    @property
    def high_rate(self) -> int:
        return self.low_rate * self.factor

    @property
    def delay_ms(self) -> float:
        """Group delay of the linear-phase filter: half its length."""
        return 1000.0 * (self.taps.size - 1) / 2 / self.high_rate

    @property
    def passband_hz(self) -> float:
        return PASSBAND_FRACTION * self.low_rate / 2

    @property
    def stopband_hz(self) -> float:
        return (2 - PASSBAND_FRACTION) * self.low_rate / 2


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser window shape parameter for a stopband attenuation (Kaiser's empirical formula)."""
    if attenuation_db > 50:
        return 0.1102 * (attenuation_db - 8.7)
    if attenuation_db >= 21:
        return float(0.5842 * (attenuation_db - 21) ** 0.4 + 0.07886 * (attenuation_db - 21))
    return 0.0


@functools.cache
def lowpass(low_rate: int, factor: int) -> Lowpass:
    """The filter between `low_rate` and `low_rate * factor`, shared by both directions.

    Built on first use and cached: every stream of a given pair shares the same read-only arrays.
    """
    if factor not in FACTORS:
        raise ValueError(f"unsupported resampling factor {factor}")
    num_taps = TAPS * factor + 1
    n = np.arange(num_taps) - (num_taps - 1) / 2
    h = np.sinc(n / factor) * np.kaiser(num_taps, kaiser_beta(STOPBAND_DB))
    h /= h.sum()
    # The sinc is exactly zero at the centre's multiples of `factor`; sin(k*pi) leaves ~1e-17 instead.
    zeros = (n % factor == 0) & (n != 0)
    h[zeros] = 0.0
    center = (num_taps - 1) // 2
    branches = np.zeros((factor, TAPS), dtype=np.float32)
    for b in range(1, factor):
        # Branch b holds h[b], h[b + factor], ..., oldest sample's tap first.
        branches[b] = h[b::factor][:TAPS][::-1]
    return Lowpass(factor=factor, low_rate=low_rate, taps=h, branches=branches, center=float(h[center]))
