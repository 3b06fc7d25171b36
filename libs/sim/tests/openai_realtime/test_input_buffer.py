import numpy as np
import pytest

from switchboard.sim.openai_realtime._input_buffer import InputBuffer
from switchboard.sim.openai_realtime.session_config import default_session, merge_session
from switchboard.sim.speech import silence, synthetic_voice
from switchboard.sim.vad import VadEvent

pytestmark = pytest.mark.unit

RATE = 24000


def configured(turn_detection: dict | None) -> InputBuffer:
    session = merge_session(
        default_session(session_id="s", model="m", max_session_s=60),
        {"type": "realtime", "audio": {"input": {"turn_detection": turn_detection}}},
    )
    buffer = InputBuffer()
    buffer.configure(session)
    return buffer


def test_server_vad_finds_the_speech_with_its_prefix_padding() -> None:
    buffer = configured({"type": "server_vad", "prefix_padding_ms": 200, "silence_duration_ms": 400})
    speech = synthetic_voice("Hello there, good morning.", RATE)

    changes = buffer.append(np.concatenate([silence(1.0, RATE), speech, silence(1.0, RATE)]), RATE)

    assert changes == [VadEvent.SPEECH_STARTED, VadEvent.SPEECH_STOPPED]
    assert 700 <= buffer.speech_start_ms <= 900  # speech at 1000 ms, minus 200 ms of padding
    assert buffer.speech_end_ms == pytest.approx(1000 + speech.size * 1000 / RATE, abs=100)
    assert buffer.session_ms == pytest.approx(2000 + speech.size * 1000 / RATE)


def test_without_turn_detection_audio_is_only_buffered() -> None:
    buffer = configured(None)

    assert buffer.append(synthetic_voice("Hello there.", RATE), RATE) == []
    assert buffer.buffered_ms > 100
    buffer.clear()
    assert buffer.buffered_ms == 0


def test_clearing_forgets_speech_in_progress() -> None:
    buffer = configured({"type": "server_vad"})
    buffer.append(synthetic_voice("Hello there, good morning.", RATE)[: RATE // 2], RATE)
    buffer.speech_item_id = "item_1"

    buffer.clear()

    assert buffer.speech_item_id is None
    assert buffer.append(silence(1.0, RATE), RATE) == []  # no stop for a speech that was dropped
