"""What the platform itself tells the model, for either provider: how to open, and a call taken over mid-way.

A call is taken over when the replica serving it died: the new agent gets the conversation so far (from the
transcript turns stored in `CALL_EVENTS`) in its instructions, and opens by apologising instead of greeting.
"""

from __future__ import annotations

from collections.abc import Iterable

from switchboard.common.bus.messages import Event, TranscriptTurn
from switchboard.common.profiles import Profile

TRANSCRIPT_MAX_CHARS = 4000
"""How much of the conversation so far a taken-over call's instructions carry (the most recent turns)."""

_LEFT_OUT = "(earlier turns left out)"


def opening_prompt(profile: Profile, *, resumed: bool = False, flow_question: str = "") -> str:
    """What the model is asked to say first: the profile's greeting, or, on a resumed call, an apology.

    A resumed call with a flow carries on with `flow_question`, the flow's current question.
    """
    if resumed:
        prompt = (
            "The call was cut off from you for a moment by a technical problem; the caller is still on the line "
            "and listening. Speak first: apologise briefly for the interruption and carry on from where the "
            "conversation stopped. Do not greet the caller again, and do not ask again for anything they have "
            "already answered."
        )
        if flow_question:
            prompt += f" After the apology, say: «{flow_question}»"
        return prompt
    if profile.recording_disclosure:
        return (
            "The phone call has just been connected and the caller is listening. Speak first: say, word for "
            f"word, «{profile.recording_disclosure}», then: {profile.greeting}"
        )
    return (
        f"The phone call has just been connected and the caller is listening. Speak first: {profile.greeting}"
    )


def continue_prompt(heard: str) -> str:
    """What the model is asked to say when its connection dropped in the middle of an answer.

    `heard` is the part of the answer the caller heard (may be empty).
    """
    if heard:
        return (
            "Your connection dropped for a moment while you were speaking; the caller is still on the line and "
            f"heard you say: «{heard}». Carry on naturally from where you were cut off: finish what you were "
            "saying without repeating what the caller already heard (a short 'sorry, as I was saying' is fine)."
        )
    return (
        "Your connection dropped for a moment just as you began to answer; the caller is still on the line and "
        "heard nothing of your answer. Give your answer now, naturally."
    )


def voicemail_prompt(message: str) -> str:
    """What the model is asked to say on an answering machine, after its beep: the profile's message, once."""
    return (
        "The call was answered by an answering machine and its beep has just sounded: nobody is listening live. "
        f"Leave this message, word for word, in the conversation's language, and say nothing else: «{message}»"
    )


FLOW_SECTION = """# How this conversation runs
The platform runs this conversation's procedure through the flow tools. After every answer of the caller, call \
the matching flow tool with the caller's exact words: flow_permission for their answer to whether they can talk \
now (or when to call them back), flow_capture for their answer to a question, flow_confirm for their yes or no to \
a read-back, flow_repeat when they ask you to repeat. Then say the result's `say` text, keeping its wording (it \
carries the question or the read-back; you may add a brief acknowledgement) and do what its `next` says.
Never ask for anything, read anything back or end the call on your own; never invent, complete or correct what \
the caller said. If the caller talks about something else, answer in one short sentence and come back to the \
current question. When `next` says the conversation is over, say the `say` text as your goodbye and call \
end_call in the same turn."""


def flow_profile(profile: Profile) -> Profile:
    """The profile a call with a flow starts with: its instructions say how the flow tools are used."""
    if profile.flow is None:
        return profile
    return profile.model_copy(update={"instructions": f"{profile.instructions.rstrip()}\n\n{FLOW_SECTION}"})


def conversation_so_far(events: Iterable[Event], *, max_chars: int = TRANSCRIPT_MAX_CHARS) -> str:
    """The transcript turns among a call's events as plain text, one ``Caller:`` / ``Agent:`` line per turn.

    An agent turn the caller cut off says so (its text is what the caller heard of it). Only the most recent
    turns that fit in `max_chars` are kept; a line says when earlier ones were left out.
    """
    lines = [line for event in events if isinstance(event, TranscriptTurn) if (line := _line(event))]
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        if size + len(line) + 1 > max_chars:
            if not kept:  # the latest turn alone is too long: keep its end, which is where the call stopped
                label, _, text = line.partition(": ")
                room = max(0, max_chars - len(label) - 3)
                kept.append(f"{label}: …{text[len(text) - room :]}")
            break
        kept.append(line)
        size += len(line) + 1
    if len(kept) < len(lines):
        kept.append(_LEFT_OUT)
    return "\n".join(reversed(kept))


def _line(turn: TranscriptTurn) -> str:
    text = " ".join(turn.text.split())
    if turn.role == "caller":
        return f"Caller: {text}" if text else ""
    if not turn.interrupted:
        return f"Agent: {text}" if text else ""
    if not text:
        return "Agent (cut off by the caller before saying anything)"
    return f"Agent (cut off by the caller; this is all they heard): {text}"


def handover_instructions(instructions: str, conversation: str | None) -> str:
    """`instructions` followed by a section saying the call was taken over, with the conversation so far.

    `conversation` is None when it could not be read: the model is told so rather than left to assume nothing
    was said.
    """
    section = (
        "# This call was handed over to you\n"
        "The call is already under way: it was handed over to you after a technical problem cut off the agent "
        "who was speaking with the caller. Carry on the same conversation as the same agent.\n"
    )
    if conversation is None:
        section += (
            "The conversation so far is not available. If you need something the caller may already have told "
            "you, ask for it briefly, acknowledging that they may have said it already."
        )
    elif not conversation:
        section += "Nothing had been said yet."
    else:
        section += f"The conversation so far, the most recent turn last:\n{conversation}"
    return f"{instructions.rstrip()}\n\n{section}"


def handover_profile(profile: Profile, conversation: str | None) -> Profile:
    """The profile a taken-over call's model session starts with: its instructions carry the conversation."""
    return profile.model_copy(
        update={"instructions": handover_instructions(profile.instructions, conversation)}
    )
