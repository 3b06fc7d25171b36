"""Generations: each agent response is a numbered stream of audio whose playout the edge reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard.common.bus.formats import AudioFormat

_FULLY_PLAYED_TOLERANCE_MS = 60


@dataclass(slots=True)
class Generation:
    """One response: what was sent to the caller, what the caller heard, and its transcript."""

    number: int
    response_id: str
    started_ns: int
    sent_ms: float = 0.0
    seq: int = 0
    played_ms: int = 0
    playout_final: bool = False
    cleared: bool = False
    done: bool = False
    cut_short: bool = False
    """It ended interrupted although nobody cleared it (the model's connection dropped)."""
    reconciled: bool = False
    transcript_published: bool = False
    first_audio_ns: int = 0
    text: list[str] = field(default_factory=list)

    @property
    def full_text(self) -> str:
        """Everything the model said in this response."""
        return "".join(self.text).strip()

    def heard_text(self) -> str:
        """The part of the transcript the caller heard, cut in proportion to the audio played."""
        text = self.full_text
        if self.sent_ms <= 0 or self.played_ms >= self.sent_ms:
            return text
        cut = int(len(text) * max(0.0, self.played_ms / self.sent_ms))
        while 0 < cut < len(text) and not text[cut - 1].isspace() and not text[cut].isspace():
            cut -= 1  # do not claim a word was heard when only its beginning was
        return text[:cut].strip()

    def fully_played(self) -> bool:
        """Done, and every ms sent has been played."""
        return self.done and (
            self.playout_final or self.played_ms >= self.sent_ms - _FULLY_PLAYED_TOLERANCE_MS
        )

    def playing(self) -> bool:
        """Audio of this generation may still be in the caller's ear or on its way."""
        return not self.cleared and self.sent_ms > 0 and not self.fully_played()


class Generations:
    """The responses of one call, numbered from `first` on; number 0 is the caller's audio.

    `first` is 1 for a new call. A call taken over from a replica that died starts above every generation the
    edge has seen, so the edge does not drop the new responses' audio as stale.
    """

    def __init__(self, output: AudioFormat, first: int = 1) -> None:
        if first < 1:
            raise ValueError(f"generations are numbered from 1 or above, not {first}")
        self._output = output
        self.first = first
        self._by_response: dict[str, Generation] = {}
        self._by_number: dict[int, Generation] = {}
        self.latest: Generation | None = None

    def number_from(self, first: int) -> None:
        """Number the next responses from `first` on at least (the edge attached the call here again)."""
        self.first = max(self.first, first)

    def start(self, response_id: str, now_ns: int) -> Generation:
        """A new response begins (or an existing one is named again)."""
        existing = self._by_response.get(response_id)
        if existing is not None:
            return existing
        number = max(self.latest.number + 1, self.first) if self.latest else self.first
        generation = Generation(number=number, response_id=response_id, started_ns=now_ns)
        self._by_response[response_id] = generation
        self._by_number[number] = generation
        self.latest = generation
        return generation

    def by_response(self, response_id: str) -> Generation | None:
        """The generation of a response id."""
        return self._by_response.get(response_id)

    def by_number(self, number: int) -> Generation | None:
        """The generation of a number."""
        return self._by_number.get(number)

    def playing(self) -> Generation | None:
        """The generation the caller may be hearing now, if any.

        That is the newest one that has sent audio: a response that has not spoken yet (its model still thinking,
        or one that only calls a tool) does not hide the one still playing before it.
        """
        for generation in reversed(self._by_number.values()):
            if generation.sent_ms > 0:
                return generation if generation.playing() else None
        return None

    def all(self) -> list[Generation]:
        """Every generation, oldest first."""
        return list(self._by_number.values())
