import pytest

from switchboard.sim.openai_realtime.session_config import (
    SemanticVad,
    ServerVad,
    SessionConfigError,
    default_session,
    input_format,
    merge_session,
    transcription_enabled,
    turn_detection,
    vad_params,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def session() -> dict:
    return default_session(session_id="sess_1", model="gpt-realtime", max_session_s=3600)


def test_the_default_session_is_pcm_24k_with_server_vad(session: dict) -> None:
    assert input_format(session).sample_rate == 24000
    assert turn_detection(session) == ServerVad()
    assert not transcription_enabled(session)


def test_an_update_merges_nested_fields_and_replaces_turn_detection_whole(session: dict) -> None:
    merged = merge_session(
        session,
        {
            "type": "realtime",
            "id": "sess_forged",
            "audio": {
                "input": {
                    "turn_detection": {"type": "semantic_vad"},
                    "transcription": {"model": "whisper-1"},
                },
                "output": {"voice": "cedar"},
            },
        },
    )

    assert merged["id"] == "sess_1"
    assert merged["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    assert merged["audio"]["output"]["voice"] == "cedar"
    assert merged["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert transcription_enabled(merged)
    assert session["audio"]["output"]["voice"] == "alloy"  # the update works on a copy


def test_turning_detection_off_means_manual_commits(session: dict) -> None:
    merged = merge_session(session, {"type": "realtime", "audio": {"input": {"turn_detection": None}}})

    assert turn_detection(merged) is None


@pytest.mark.parametrize(
    ("update", "param"),
    [
        ({"instructions": "x"}, "session.type"),
        ({"type": "transcription"}, "session.type"),
        (
            {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            "session.audio.input.format.rate",
        ),
        (
            {"type": "realtime", "audio": {"output": {"format": {"type": "audio/opus"}}}},
            "session.audio.output.format",
        ),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "fast_vad"}}}},
            "session.audio.input.turn_detection",
        ),
    ],
)
def test_updates_the_api_rejects(session: dict, update: dict, param: str) -> None:
    with pytest.raises(SessionConfigError) as rejected:
        merge_session(session, update)

    assert rejected.value.param == param


def test_vad_threshold_and_eagerness_map_to_energy_vad_settings() -> None:
    assert vad_params(ServerVad(threshold=0.5, silence_duration_ms=700)).threshold_dbfs == -40.0
    assert vad_params(ServerVad(threshold=0.9)).threshold_dbfs == pytest.approx(-24.0)
    assert vad_params(ServerVad(silence_duration_ms=700)).silence_ms == 700
    assert (
        vad_params(SemanticVad(eagerness="high")).silence_ms
        < vad_params(SemanticVad(eagerness="low")).silence_ms
    )
