import json

import pytest

from switchboard.sim.flow_following import (
    caller_turns_before,
    carrier_registration,
    conversation_over,
    flow_output,
    next_tool,
    resumed_opening,
)
from switchboard.sim.openai_realtime._planner import AwaitOutput, CallFunction, Speak, plan_response
from switchboard.sim.openai_realtime.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudio,
    Item,
    MessageItem,
)
from switchboard.sim.openai_realtime.script import english_receptionist, flow_script, with_scenarios

pytestmark = pytest.mark.unit

SCRIPT = flow_script(carrier_registration())
ASKED = {
    "ok": True,
    "say": "¿Cuál es el número de tractor?",
    "next": "… call flow_capture with their exact words.",
}
OVER = {"ok": True, "say": "¡Listo, gracias!", "next": "Then call end_call: the conversation is over."}


def user(text: str) -> MessageItem:
    return MessageItem(role="user", content=[InputAudio(transcript=text)])


def called(name: str, call_id: str, output: dict[str, object] | None = None) -> list[Item]:
    items: list[Item] = [FunctionCallItem(call_id=call_id, name=name, arguments="{}")]
    if output is not None:
        items.append(FunctionCallOutputItem(call_id=call_id, output=json.dumps(output)))
    return items


def test_the_caller_words_go_to_the_tool_the_last_result_named() -> None:
    assert plan_response([], SCRIPT, None) == Speak(SCRIPT.greeting)
    first = plan_response([user("Sí, claro.")], SCRIPT, None)
    assert first == CallFunction(
        "flow_permission", json.dumps({"caller_words": "Sí, claro."}, ensure_ascii=False)
    )
    items = [user("Sí, claro."), *called("flow_permission", "c1", ASKED)]
    assert plan_response(items, SCRIPT, None) == Speak("¿Cuál es el número de tractor?")
    items.append(user("Es el uno dos tres."))
    plan = plan_response(items, SCRIPT, None)
    assert isinstance(plan, CallFunction) and plan.name == "flow_capture"
    assert json.loads(plan.arguments) == {"caller_words": "Es el uno dos tres."}
    assert plan_response([*items, *called("flow_capture", "c2")], SCRIPT, None) == AwaitOutput("c2")


def test_when_the_flow_is_over_the_model_ends_the_call_and_says_the_goodbye() -> None:
    items = [user("Sí, todo bien."), *called("flow_confirm", "c1", OVER)]
    assert plan_response(items, SCRIPT, None) == CallFunction("end_call", json.dumps({"reason": "flow_done"}))
    items += called("end_call", "c2", {"ok": True, "status": "the call ends after your goodbye"})
    assert plan_response(items, SCRIPT, None) == Speak("¡Listo, gracias!")


def test_a_taken_over_session_apologises_and_asks_where_the_flow_is() -> None:
    prompt = "The call was cut off … After the apology, say: «¿Cuál es el número de tractor?»"
    assert plan_response([], SCRIPT, prompt) == Speak(
        "Perdone, se cortó un momento. ¿Cuál es el número de tractor?"
    )
    assert resumed_opening("Speak first: hello") is None
    handed_over = "Eres Daisy…\nCaller: Sí.\nAgent: ¿Nombre?\nCaller: Juan Pérez.\n"
    assert caller_turns_before(handed_over) == 2
    assert SCRIPT.caller_turn_number(1, handed_over) == 3


def test_a_session_plays_the_scenario_its_instructions_match() -> None:
    script = with_scenarios(english_receptionist(), (carrier_registration(),))
    assert script.for_instructions("Eres Daisy, del área de despacho").follows_flow
    assert script.for_instructions("You are Ava") is script


def test_flow_results_are_recognised() -> None:
    assert flow_output(json.dumps(ASKED)) == ASKED and flow_output('{"ok": true}') is None
    assert flow_output("not json") is None
    assert next_tool(None) == "flow_permission" and next_tool(ASKED) == "flow_capture"
    assert conversation_over(OVER) and not conversation_over(ASKED)


def test_a_result_saying_the_tool_does_not_fit_is_retried_with_the_tool_it_names() -> None:
    wrong = {**ASKED, "ok": False, "error": "flow_permission does not fit now."}
    items = [user("Es el uno dos tres."), *called("flow_permission", "c1", None)]
    items[1] = FunctionCallItem(call_id="c1", name="flow_permission", arguments='{"caller_words": "x"}')
    items.append(FunctionCallOutputItem(call_id="c1", output=json.dumps(wrong)))
    assert plan_response(items, SCRIPT, None) == CallFunction("flow_capture", '{"caller_words": "x"}')
