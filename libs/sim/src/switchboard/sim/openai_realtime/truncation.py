"""`conversation.item.truncate`: cutting an assistant audio item to what the caller heard."""

from __future__ import annotations

from switchboard.sim.openai_realtime.events import ItemTruncated
from switchboard.sim.openai_realtime.items import MessageItem, OutputAudio
from switchboard.sim.openai_realtime.recording import EmulatedSession, Truncation


class TruncationError(ValueError):
    """A truncate the real API rejects with an `invalid_request_error`."""

    def __init__(self, message: str, *, code: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


def truncate(
    session: EmulatedSession, item_id: str, content_index: int, audio_end_ms: int
) -> tuple[Truncation, ItemTruncated]:
    """Cut the item's audio to `audio_end_ms` and its transcript in proportion.

    Rejected like the real API: an unknown item, an item that is not an assistant audio message, or an
    `audio_end_ms` past the audio sent for the item ("Audio content of Xms is already shorter than Yms").
    """
    item = session.item(item_id)
    if item is None:
        raise TruncationError(
            f"Item with item_id not found: {item_id}", code="item_not_found", param="item_id"
        )
    if not isinstance(item, MessageItem) or item.role != "assistant":
        raise TruncationError(
            f"Only assistant messages can be truncated; item '{item_id}' is not one.",
            code="invalid_value",
            param="item_id",
        )
    part = item.content[content_index] if 0 <= content_index < len(item.content) else None
    if not isinstance(part, OutputAudio):
        raise TruncationError(
            f"Content index {content_index} of item '{item_id}' is not an audio content part.",
            code="invalid_value",
            param="content_index",
        )
    sent_ms = session.assistant_audio_ms.get(item_id, 0.0)
    if audio_end_ms < 0 or audio_end_ms > sent_ms:
        raise TruncationError(
            f"Audio content of {int(sent_ms)}ms is already shorter than {audio_end_ms}ms",
            code="invalid_value",
            param="audio_end_ms",
        )
    full = part.transcript or ""
    words = full.split()
    kept = " ".join(words[: round(len(words) * audio_end_ms / sent_ms)]) if sent_ms else ""
    item.content = [
        OutputAudio(transcript=kept) if index == content_index else other
        for index, other in enumerate(item.content)
    ]
    session.assistant_audio_ms[item_id] = float(audio_end_ms)
    truncation = Truncation(
        item_id=item_id,
        audio_end_ms=audio_end_ms,
        audio_sent_ms=sent_ms,
        transcript=kept,
        full_transcript=full,
    )
    return truncation, ItemTruncated(item_id=item_id, content_index=content_index, audio_end_ms=audio_end_ms)
