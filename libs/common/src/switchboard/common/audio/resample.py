"""Streaming resampling of PCM16 between the platform's rates."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from switchboard.common.audio._filters import FACTORS
from switchboard.common.audio._stages import Decimator, Interpolator

#: The conversions a `StreamResampler` does, each in both directions.
SUPPORTED_PAIRS: tuple[tuple[int, int], ...] = (
    (8000, 16000),
    (8000, 24000),
    (16000, 48000),
    (24000, 48000),
    (16000, 24000),
)


def _stages(src_rate: int, dst_rate: int) -> list[Interpolator | Decimator]:
    """Up to the common multiple of the rates, then down: 16 kHz ↔ 24 kHz goes through 48 kHz."""
    if src_rate == dst_rate:
        return []
    if (min(src_rate, dst_rate), max(src_rate, dst_rate)) not in SUPPORTED_PAIRS:
        pairs = ", ".join(f"{a}<->{b}" for a, b in SUPPORTED_PAIRS)
        raise ValueError(f"unsupported resampling {src_rate} Hz -> {dst_rate} Hz (supported: {pairs})")
    common = math.lcm(src_rate, dst_rate)
    up, down = common // src_rate, common // dst_rate
    assert up in (1, *FACTORS) and down in (1, *FACTORS)
    stages: list[Interpolator | Decimator] = []
    if up > 1:
        stages.append(Interpolator(src_rate, up))
    if down > 1:
        stages.append(Decimator(dst_rate, down))
    return stages


def warm_up() -> None:
    """Compile the resampling kernels now: a few seconds, or ~1 s when numba's disk cache has them.

    Otherwise the first stream to resample pays it on the hot path. Services call this at start-up.
    """
    from switchboard.common.audio import _kernels

    _kernels.warm_up()


class StreamResampler:
    """Resample a stream of PCM16 chunks, carrying the filter state from one chunk to the next.

    Chunks may have any length: the output of consecutive chunks, concatenated, is the output of the whole
    signal at once. The filters are linear-phase lowpasses with at least 70 dB of alias / image rejection
    and a flat passband up to 85 % of the lower rate's Nyquist frequency (3.4 kHz for 8 kHz); see
    `_filters`. Output samples are rounded and clipped to int16.

    Each output sample is produced as soon as the input it depends on has arrived, so the only latency is
    the filters' group delay (`delay_ms`). One instance per stream; not thread-safe.
    """

    __slots__ = ("_stages", "dst_rate", "src_rate")

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._stages = _stages(src_rate, dst_rate)

    @property
    def delay_ms(self) -> float:
        """Algorithmic delay: how much later a feature of the input shows in the output."""
        return sum(stage.delay_ms for stage in self._stages)

    def process(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Resample the next chunk of the stream (any length, even 0); returns a new array."""
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise TypeError(f"expected a 1-D native int16 array, got {samples.ndim}-D {samples.dtype}")
        if not (samples.flags.c_contiguous and samples.flags.aligned) or not self._stages:
            # The kernels are compiled for contiguous aligned arrays; anything else would compile anew.
            samples = samples.copy()
        out = samples
        for stage in self._stages:
            out = stage.process(out)
        return out.copy() if self._stages else out

    def reset(self) -> None:
        """Forget the stream so far (e.g. a new utterance after a flush), as if just built."""
        for stage in self._stages:
            stage.reset()
