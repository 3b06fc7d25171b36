"""Audio formats on the bus: the format is part of the subject, so routing is declarative."""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    """`in` flows from the caller to the agent, `out` from the agent to the caller."""

    IN = "in"
    OUT = "out"


class AudioFormat(StrEnum):
    """Mono audio formats: G.711 μ-law at 8 kHz, or PCM16 little-endian at 16, 24 or 48 kHz."""

    PCMU8K = "pcmu8k"
    PCM16K = "pcm16k"
    PCM24K = "pcm24k"
    PCM48K = "pcm48k"

    @property
    def rate(self) -> int:
        """Samples per second."""
        return _RATES[self]

    @property
    def bytes_per_sample(self) -> int:
        """1 for μ-law, 2 for PCM16."""
        return 1 if self is AudioFormat.PCMU8K else 2

    def bytes_for_ms(self, ms: float) -> int:
        """Payload size of `ms` milliseconds of audio."""
        return int(self.rate * ms / 1000) * self.bytes_per_sample

    def duration_ms(self, payload_size: int) -> float:
        """Milliseconds of audio in a payload of `payload_size` bytes."""
        return payload_size / self.bytes_per_sample * 1000.0 / self.rate


_RATES = {
    AudioFormat.PCMU8K: 8000,
    AudioFormat.PCM16K: 16000,
    AudioFormat.PCM24K: 24000,
    AudioFormat.PCM48K: 48000,
}
