"""Whether a frame of agent audio may still be played: decided here, and only here.

Agent audio comes in generations (one per answer). A frame is *cleared* when its generation is at or below the
last `ctl.clear` of the call (a barge-in threw that answer away), *stale* when a newer generation has already
been seen (a straggler of an answer the agent moved on from), *impossible* when it is numbered more than
`MAX_GENERATION_STEP` above the newest generation seen (forged or broken: taking it would make every later
answer a straggler), *new* when it opens a generation (a filter converting it starts fresh), and otherwise it
*plays*. The edge's downlink, the conversions in front of it and
the transcoder all ask `AgentAudioGate.admit`, so they can never disagree about a frame.
"""

from __future__ import annotations

import enum

from switchboard.common.bus.frames import MAX_GENERATION_STEP


class Verdict(enum.Enum):
    """What becomes of one frame of agent audio."""

    PLAY = "play"
    """A further frame of the newest generation."""
    NEW = "new"
    """The first frame of a newer generation: it becomes the newest."""
    CLEARED = "cleared"
    """Its generation was cleared (barge-in): drop it."""
    STALE = "stale"
    """A newer generation was seen already: drop it."""
    IMPOSSIBLE = "bad_generation"
    """Numbered too far above the newest generation to come from the call's agent: drop it."""

    @property
    def admitted(self) -> bool:
        """Whether the frame goes on to the phone."""
        return self is Verdict.PLAY or self is Verdict.NEW


def verdict(generation: int, *, newest: int, cleared: int) -> Verdict:
    """The verdict on a frame of `generation`, given the newest generation seen and the last one cleared."""
    if generation <= cleared:
        return Verdict.CLEARED
    if generation < newest:
        return Verdict.STALE
    if newest >= 0 and generation > newest + MAX_GENERATION_STEP:
        return Verdict.IMPOSSIBLE
    return Verdict.NEW if generation > newest else Verdict.PLAY


class AgentAudioGate:
    """One call's generations as far as its agent audio goes: the newest seen, the last cleared."""

    __slots__ = ("cleared", "newest")

    def __init__(self) -> None:
        self.newest = -1
        self.cleared = -1

    def admit(self, generation: int) -> Verdict:
        """Judge a frame; a `NEW` one makes its generation the newest."""
        result = verdict(generation, newest=self.newest, cleared=self.cleared)
        if result is Verdict.NEW:
            self.newest = generation
        return result

    def clear(self, generation: int) -> bool:
        """A `ctl.clear` up to `generation`; False when an equal or later clear came before it."""
        if generation <= self.cleared:
            return False
        if self.newest >= 0 and generation > self.highest + MAX_GENERATION_STEP:
            return False  # an answer that cannot have been
        self.cleared = generation
        return True

    @property
    def highest(self) -> int:
        """The newest generation seen or cleared (-1 before any)."""
        return max(self.newest, self.cleared)

    def reset(self) -> None:
        """Forget every generation."""
        self.newest = self.cleared = -1
