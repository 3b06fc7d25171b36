import json

import pytest

from switchboard.sim.openai_realtime import FunctionCallOutputItem, MessageItem, OutputText
from switchboard.sim.openai_realtime._decoding import decode_client_event
from switchboard.sim.openai_realtime.events import ConversationItemCreate, ResponseCreate

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"'])
def test_anything_but_a_json_object_is_invalid_json(raw: str) -> None:
    frame = decode_client_event(raw)

    assert frame.event is None and frame.error is not None
    assert (frame.error.type, frame.error.code) == ("invalid_request_error", "invalid_json")


def test_an_unknown_type_names_the_offending_event() -> None:
    frame = decode_client_event(json.dumps({"type": "response.audio.delta", "event_id": "evt_1"}))

    assert frame.error is not None and frame.json is not None
    assert (frame.error.code, frame.error.param, frame.error.event_id) == ("invalid_value", "type", "evt_1")


def test_a_wrongly_typed_field_is_invalid() -> None:
    frame = decode_client_event(
        json.dumps({"type": "input_audio_buffer.append", "event_id": "e", "audio": 3})
    )

    assert frame.error is not None and frame.error.code == "invalid_value" and "audio" in frame.error.message


def test_items_as_the_livekit_plugin_replays_them_decode_with_unknown_fields_ignored() -> None:
    assistant = decode_client_event(
        json.dumps(
            {
                "type": "conversation.item.create",
                "event_id": "chat_ctx_create_1",
                "previous_item_id": "root",
                "item": {
                    "id": "item_x",
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hello."}],
                    "unknown_future_field": 1,
                },
            }
        )
    )
    output = decode_client_event(
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
            }
        )
    )
    create = decode_client_event(
        json.dumps({"type": "response.create", "response": {"instructions": "greet", "metadata": {"k": "v"}}})
    )

    assert isinstance(assistant.event, ConversationItemCreate) and assistant.event.previous_item_id == "root"
    assert assistant.event.item == MessageItem(
        id="item_x", role="assistant", content=[OutputText(text="Hello.")]
    )
    assert isinstance(output.event, ConversationItemCreate)
    assert output.event.item == FunctionCallOutputItem(call_id="call_1", output="ok")
    assert isinstance(create.event, ResponseCreate) and create.event.response is not None
    assert create.event.response.metadata == {"k": "v"}
