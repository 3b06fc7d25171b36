import pytest

from switchboard.common.bus import subjects
from switchboard.common.bus.formats import AudioFormat, Direction

pytestmark = pytest.mark.unit


def test_audio_subjects_carry_direction_and_format() -> None:
    assert subjects.audio("c1", Direction.IN, AudioFormat.PCMU8K) == "call.c1.audio.in.pcmu8k"
    assert subjects.audio("c1", Direction.OUT, AudioFormat.PCM24K) == "call.c1.audio.out.pcm24k"


def test_control_event_and_attach_subjects() -> None:
    assert subjects.control("c1", "clear") == "call.c1.ctl.clear"
    assert subjects.event("c1", "ended") == "call.c1.evt.ended"
    assert subjects.call_events(subjects.ANY) == "call.*.evt.>"
    assert subjects.transcoder_attach() == "svc.transcoder.attach"
    assert subjects.agent_attach("openai") == "svc.agent.openai.attach"


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "a>", "*x", "x" * 200, "call\n"])
def test_a_call_id_cannot_inject_subject_tokens(bad: str) -> None:
    with pytest.raises(ValueError):
        subjects.audio(bad, Direction.IN, AudioFormat.PCMU8K)
    with pytest.raises(ValueError):
        subjects.control(bad, "clear")


def test_call_id_and_name_are_read_back_from_subjects() -> None:
    subject = subjects.control("abc-123", "hangup")
    assert subjects.call_id_of(subject) == "abc-123"
    assert subjects.last_token(subject) == "hangup"
    with pytest.raises(ValueError):
        subjects.call_id_of("svc.transcoder.attach")


def test_format_sizes() -> None:
    assert AudioFormat.PCMU8K.bytes_for_ms(20) == 160
    assert AudioFormat.PCM24K.bytes_for_ms(20) == 960
    assert AudioFormat.PCM16K.duration_ms(640) == 20.0
