"""What the far end of an emulated call does: answer, let it ring out, be busy, or fail; and inbound numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["answer", "no-answer", "busy", "failed"]
AnsweredBy = Literal[
    "human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax", "unknown"
]


@dataclass(frozen=True, slots=True)
class Callee:
    """The phone at the number dialed.

    - `answer`: rings `ring_s`, then answers (`answered_by` is reported when the call asked for AMD);
      hangs up by itself after `hang_up_after_s` of conversation if set. An answering machine plays
      `machine_greeting` and a beep into the call's stream, unless Twilio waited for the beep
      (`MachineDetection=DetectMessageEnd`) before running the document.
    - `no-answer`: rings until the call's `Timeout` (or `no_answer_after_s`, when set, to keep tests short).
    - `busy`: reports `busy` after `ring_s`, never ringing.
    - `failed`: the carrier refuses the call (`failed`, SIP 500) at once.
    """

    outcome: Outcome = "answer"
    ring_s: float = 0.1
    answered_by: AnsweredBy = "human"
    hang_up_after_s: float | None = None
    no_answer_after_s: float | None = None
    machine_greeting: str = (
        "Hi, you have reached five five five, zero one zero zero. Please leave a message after the tone."
    )
    """What an answering machine (`answered_by` machine_…) says before its beep."""

    @property
    def is_machine(self) -> bool:
        """Whether an answering machine (or a fax) takes the call."""
        return self.answered_by.startswith("machine") or self.answered_by == "fax"

    @classmethod
    def answering(
        cls, ring_s: float = 0.1, *, answered_by: AnsweredBy = "human", hang_up_after_s: float | None = None
    ) -> Callee:
        """A callee who picks up after `ring_s` (and hangs up after `hang_up_after_s`, if given)."""
        return cls("answer", ring_s, answered_by=answered_by, hang_up_after_s=hang_up_after_s)

    @classmethod
    def not_answering(cls, after_s: float | None = None) -> Callee:
        """A callee who lets it ring (until the call's Timeout, or `after_s`)."""
        return cls("no-answer", no_answer_after_s=after_s)

    @classmethod
    def busy(cls, after_s: float = 0.05) -> Callee:
        """A busy line."""
        return cls("busy", ring_s=after_s)

    @classmethod
    def failing(cls) -> Callee:
        """A number the carrier cannot reach."""
        return cls("failed", ring_s=0.0)


@dataclass(frozen=True, slots=True)
class IncomingNumber:
    """A phone number of the account: where Twilio asks what to do with calls to it."""

    voice_url: str
    voice_method: str = "POST"
    status_callback: str = ""
    status_callback_events: frozenset[str] = field(default_factory=lambda: frozenset({"completed"}))


@dataclass(frozen=True, slots=True)
class EmulatorTiming:
    """How long the things that are not up to the callee take."""

    dial_talk_s: float = 0.2
    """How long a `<Dial>`ed party stays on the line before hanging up."""
    say_s: float = 0.0
    """How long each `<Say>` plays."""
    max_pause_s: float = 5.0
    """The longest a `<Pause>` really waits (longer pauses are cut short, to keep simulations brisk)."""
    webhook_timeout_s: float = 15.0
    """How long Twilio waits for a webhook (its documented limit)."""
