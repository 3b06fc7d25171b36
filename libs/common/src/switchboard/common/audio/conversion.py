"""Stateful conversion of one stream of audio payloads from one bus format to another.

The transcoder runs these for a call's bus frames; the media edge runs the same ones inline when it converts a
Twilio call's audio itself.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from switchboard.common.audio.convert import PcmToUlaw, UlawToPcm
from switchboard.common.audio.resample import StreamResampler
from switchboard.common.bus.formats import AudioFormat


class Conversion(Protocol):
    """Payload bytes of one format in, payload bytes of another out; carries filter state between calls."""

    def process(self, payload: bytes) -> bytes:
        """Convert one payload."""
        ...

    def reset(self) -> None:
        """Forget the filter state (a new, unrelated stream starts)."""
        ...


class _PcmResample:
    """PCM16 → PCM16 at another rate."""

    def __init__(self, src: AudioFormat, dst: AudioFormat) -> None:
        self._resampler = StreamResampler(src.rate, dst.rate)

    def process(self, payload: bytes) -> bytes:
        if len(payload) % 2:
            raise ValueError("a PCM16 payload has an even number of bytes")
        return self._resampler.process(np.frombuffer(payload, dtype="<i2")).tobytes()

    def reset(self) -> None:
        self._resampler.reset()


def conversion(src: AudioFormat, dst: AudioFormat) -> Conversion:
    """The conversion from `src` to `dst` (they must differ)."""
    if src is dst:
        raise ValueError(f"nothing to convert: {src} → {dst}")
    if src is AudioFormat.PCMU8K and dst in (AudioFormat.PCM16K, AudioFormat.PCM24K):
        return UlawToPcm(dst.rate)
    if dst is AudioFormat.PCMU8K and src in (AudioFormat.PCM16K, AudioFormat.PCM24K):
        return PcmToUlaw(src.rate)
    if AudioFormat.PCMU8K in (src, dst):
        raise ValueError(f"unsupported conversion {src} → {dst}")
    return _PcmResample(src, dst)


class PerGeneration:
    """Agent audio converted answer by answer: a newer generation starts the filter fresh.

    Each answer's first sample has nothing to do with the last one of the answer before it. A frame of a
    generation older than the newest one seen is a straggler: `admit` refuses it, so converting it cannot
    disturb the filter of the answer being played.
    """

    __slots__ = ("_conversion", "generation")

    def __init__(self, conversion: Conversion) -> None:
        self._conversion = conversion
        self.generation = -1

    def admit(self, generation: int) -> bool:
        """Whether a frame of `generation` may be converted (a newer one resets the filter)."""
        if generation < self.generation:
            return False
        if generation > self.generation:
            self.generation = generation
            self._conversion.reset()
        return True

    def process(self, payload: bytes) -> bytes:
        """Convert the next payload of the admitted generation."""
        return self._conversion.process(payload)

    def reset(self) -> None:
        """Forget the filter state and the generations seen."""
        self.generation = -1
        self._conversion.reset()
