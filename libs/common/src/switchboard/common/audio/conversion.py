"""Stateful conversion of one stream of audio payloads from one bus format to another.

The transcoder runs these for a call's bus frames; the media edge runs the same ones inline when it converts a
Twilio call's audio itself.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from switchboard.common.audio.agent_audio import AgentAudioGate, Verdict
from switchboard.common.audio.convert import PcmToUlaw, UlawToPcm
from switchboard.common.audio.resample import StreamResampler
from switchboard.common.audio.resample import warm_up as compile_kernels
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
    """Agent audio judged and converted answer by answer: a newer generation starts the filter fresh.

    Each answer's first sample has nothing to do with the last one of the answer before it. Whether a frame
    plays at all is `AgentAudioGate`'s verdict: a cleared or stale frame is refused before it is converted, so
    it cannot disturb the filter of the answer being played. Without a conversion the audio passes as it is.
    """

    __slots__ = ("_conversion", "gate")

    def __init__(self, conversion: Conversion | None, gate: AgentAudioGate | None = None) -> None:
        self._conversion = conversion
        self.gate = gate or AgentAudioGate()

    @property
    def generation(self) -> int:
        """The newest generation admitted (-1 before any)."""
        return self.gate.newest

    def admit(self, generation: int) -> Verdict:
        """The verdict on a frame of `generation`; a newer one resets the filter."""
        result = self.gate.admit(generation)
        if result is Verdict.NEW and self._conversion is not None:
            self._conversion.reset()
        return result

    def clear(self, generation: int) -> bool:
        """A `ctl.clear` up to `generation`; False when it clears nothing new."""
        return self.gate.clear(generation)

    def process(self, payload: bytes) -> bytes:
        """Convert the next payload of the admitted generation."""
        return payload if self._conversion is None else self._conversion.process(payload)

    def reset(self) -> None:
        """Forget the filter state and the generations seen."""
        self.gate.reset()
        if self._conversion is not None:
            self._conversion.reset()


def supported_conversions() -> list[tuple[AudioFormat, AudioFormat]]:
    """Every (source, destination) pair that `conversion` accepts."""
    pairs = []
    for src in AudioFormat:
        for dst in AudioFormat:
            try:
                conversion(src, dst)
            except ValueError:
                continue
            pairs.append((src, dst))
    return pairs


def warm_up() -> None:
    """Build and run every conversion once, the way a call does: whatever is compiled or designed lazily.

    The kernels are compiled (or loaded from numba's disk cache, ~1 s) and the filters designed here, so the
    first call's first frame pays nothing. Services run this before they report ready.
    """
    compile_kernels()
    for src, dst in supported_conversions():
        converter = PerGeneration(conversion(src, dst))
        converter.admit(1)
        for _ in range(2):  # the second frame runs with the history of the first, as live
            converter.process(bytes(src.bytes_for_ms(20)))
