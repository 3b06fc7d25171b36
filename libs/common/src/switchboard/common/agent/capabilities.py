"""What differs between model providers, as data rather than `if provider == …`."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.common.bus.formats import AudioFormat


@dataclass(frozen=True, slots=True)
class AgentCapabilities:
    """A provider's audio formats and what it can do after a barge-in."""

    provider: str
    input_format: AudioFormat
    output_format: AudioFormat
    can_truncate: bool
    """True: the model's item is cut to what the caller heard. False: the model is told in text instead."""
