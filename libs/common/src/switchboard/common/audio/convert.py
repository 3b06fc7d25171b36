"""The transcoder's hot path: μ-law 8 kHz ↔ PCM16 LE at 16 / 24 kHz, bytes in, bytes out."""

from __future__ import annotations

import numpy as np

from switchboard.common.audio import g711
from switchboard.common.audio._stages import Decimator, Interpolator

#: PCM rates the converters work with.
PCM_RATES = (8000, 16000, 24000)
_ULAW_RATE = 8000


def _check_rate(rate: int) -> None:
    if rate not in PCM_RATES:
        raise ValueError(f"unsupported PCM rate {rate} Hz for μ-law 8 kHz (supported: {PCM_RATES})")


class UlawToPcm:
    """Caller audio: μ-law 8 kHz → PCM16 LE at `dst_rate`, one stream, filter state carried across calls."""

    __slots__ = ("_stage", "dst_rate")

    def __init__(self, dst_rate: int) -> None:
        _check_rate(dst_rate)
        self.dst_rate = dst_rate
        self._stage = Interpolator(_ULAW_RATE, dst_rate // _ULAW_RATE) if dst_rate != _ULAW_RATE else None

    @property
    def delay_ms(self) -> float:
        """Algorithmic delay of the resampling."""
        return self._stage.delay_ms if self._stage is not None else 0.0

    def process(self, ulaw: bytes | bytearray | memoryview) -> bytes:
        """Convert the next chunk (any length) of the stream."""
        if type(ulaw) is not bytes:
            ulaw = bytes(ulaw)
        if self._stage is None:
            return g711.ulaw_decode(ulaw).tobytes()
        return self._stage.process_ulaw(ulaw)

    def reset(self) -> None:
        """Forget the stream so far."""
        if self._stage is not None:
            self._stage.reset()


class PcmToUlaw:
    """Agent audio: PCM16 LE at `src_rate` → μ-law 8 kHz, one stream, filter state carried across calls.

    Chunks may have any even length; samples beyond full scale after filtering are clipped, never wrapped.
    """

    __slots__ = ("_stage", "src_rate")

    def __init__(self, src_rate: int) -> None:
        _check_rate(src_rate)
        self.src_rate = src_rate
        self._stage = Decimator(_ULAW_RATE, src_rate // _ULAW_RATE) if src_rate != _ULAW_RATE else None

    @property
    def delay_ms(self) -> float:
        """Algorithmic delay of the resampling."""
        return self._stage.delay_ms if self._stage is not None else 0.0

    def process(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """Convert the next chunk of the stream; raises ValueError on an odd byte count."""
        if len(pcm) & 1:
            raise ValueError(f"a PCM16 payload has an even number of bytes, got {len(pcm)}")
        if type(pcm) is not bytes:
            pcm = bytes(pcm)
        if self._stage is None:
            return g711.ulaw_encode(np.frombuffer(pcm, "<i2"))
        return self._stage.process_to_ulaw(pcm)

    def reset(self) -> None:
        """Forget the stream so far."""
        if self._stage is not None:
            self._stage.reset()
