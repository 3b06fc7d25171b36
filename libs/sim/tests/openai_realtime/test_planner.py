import pytest

from switchboard.sim.openai_realtime import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionCallSpec,
    InputAudio,
    InputText,
    MessageItem,
    OutputAudio,
    Script,
    Turn,
)
from switchboard.sim.openai_realtime._planner import AwaitOutput, CallFunction, Speak, plan_response

pytestmark = pytest.mark.unit

SCRIPT = Script(
    greeting="Welcome.",
    turns=(
        Turn("Book Tuesday.", "Checking.", FunctionCallSpec("book", {"day": "tue"}, reply_after="Booked.")),
        Turn("Thanks.", "Bye."),
    ),
    fallback_reply="Anything else?",
)


def user(text: str | None = None) -> MessageItem:
    part = InputText(text=text) if text is not None else InputAudio(transcript=None)
    return MessageItem(role="user", content=[part], id=f"item_{text}")


def assistant(text: str) -> MessageItem:
    return MessageItem(role="assistant", content=[OutputAudio(transcript=text)])


def test_an_empty_conversation_starts_with_the_greeting() -> None:
    assert plan_response([], SCRIPT, None) == Speak("Welcome.")
    system = MessageItem(role="system", content=[InputText(text="Be nice.")])
    assert plan_response([system], SCRIPT, None) == Speak("Welcome.")


def test_after_the_greeting_only_a_request_to_greet_repeats_it() -> None:
    items = [assistant("Welcome.")]

    assert plan_response(items, SCRIPT, "greet the caller") == Speak("Welcome.")
    assert plan_response(items, SCRIPT, None) == Speak("Anything else?")


def test_a_user_turn_with_a_scripted_call_calls_then_waits_for_the_output_then_answers() -> None:
    items = [assistant("Welcome."), user()]
    assert plan_response(items, SCRIPT, None) == CallFunction("book", '{"day": "tue"}')

    items.append(FunctionCallItem(call_id="call_1", name="book", arguments='{"day": "tue"}'))
    assert plan_response(items, SCRIPT, None) == AwaitOutput("call_1")

    items.append(FunctionCallOutputItem(call_id="call_1", output="ok"))
    assert plan_response(items, SCRIPT, None) == Speak("Booked.")


def test_turns_count_user_messages_so_a_replayed_history_continues_the_script() -> None:
    replayed = [assistant("Welcome."), user("Book Tuesday."), assistant("Booked."), user("Thanks.")]

    assert plan_response(replayed, SCRIPT, None) == Speak("Bye.")
