import pytest

from switchboard.sim.openai_realtime import EmulatedSession, MessageItem, OutputAudio
from switchboard.sim.openai_realtime.truncation import TruncationError, truncate

pytestmark = pytest.mark.unit


def session_with_reply(transcript: str, sent_ms: float) -> EmulatedSession:
    session = EmulatedSession(id="sess_1", model="gpt-realtime", config={})
    session.items.append(
        MessageItem(id="item_a", role="assistant", content=[OutputAudio(transcript=transcript)])
    )
    session.assistant_audio_ms["item_a"] = sent_ms
    return session


def test_the_transcript_is_cut_in_proportion_to_the_audio_kept() -> None:
    session = session_with_reply("one two three four five six seven eight", 4000.0)

    truncation, event = truncate(session, "item_a", 0, 1500)

    assert truncation.transcript == "one two three"
    assert (event.item_id, event.audio_end_ms) == ("item_a", 1500)
    assert session.assistant_audio_ms["item_a"] == 1500
    second, _ = truncate(session, "item_a", 0, 1000)
    assert second.audio_sent_ms == 1500


@pytest.mark.parametrize(
    ("item_id", "content_index", "audio_end_ms", "param"),
    [
        ("item_b", 0, 10, "item_id"),
        ("item_a", 1, 10, "content_index"),
        ("item_a", 0, 4001, "audio_end_ms"),
        ("item_a", 0, -1, "audio_end_ms"),
    ],
)
def test_impossible_truncations_are_refused(
    item_id: str, content_index: int, audio_end_ms: int, param: str
) -> None:
    session = session_with_reply("one two", 4000.0)

    with pytest.raises(TruncationError) as refused:
        truncate(session, item_id, content_index, audio_end_ms)

    assert refused.value.param == param
    assert session.items[0].content == [OutputAudio(transcript="one two")]
