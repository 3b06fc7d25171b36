"""Client and server events of the OpenAI Realtime GA protocol, as tagged structs.

Client events decode leniently (unknown fields are ignored, as the real server ignores fields it does not use);
server events carry exactly the fields the GA API sends, so a strict client (the `openai` SDK's models, the
LiveKit plugin) parses them.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from switchboard.sim.openai_realtime.items import ContentPartRef, Item, Response


def new_id(prefix: str) -> str:
    """An id shaped like OpenAI's (`event_…`, `item_…`, `resp_…`, `call_…`), at most 32 characters."""
    return f"{prefix}_{secrets.token_hex(10)}"


def _event_id() -> str:
    return new_id("event")


# ---------------------------------------------------------------------------------------------- client events


class ClientEvent(msgspec.Struct, tag_field="type", kw_only=True):
    """Base of the events a client sends."""

    event_id: str | None = None


class SessionUpdate(ClientEvent, tag="session.update"):
    """Partial session configuration; merged into the current one."""

    session: dict[str, Any]


class InputAudioBufferAppend(ClientEvent, tag="input_audio_buffer.append"):
    """Base64 audio in the session's input format."""

    audio: str


class InputAudioBufferCommit(ClientEvent, tag="input_audio_buffer.commit"):
    """Turn the buffered audio into a user item."""


class InputAudioBufferClear(ClientEvent, tag="input_audio_buffer.clear"):
    """Drop the buffered audio."""


class ConversationItemCreate(ClientEvent, tag="conversation.item.create"):
    """Add an item after `previous_item_id` (`root` for the start, absent for the end)."""

    item: Item
    previous_item_id: str | None = None


class ConversationItemDelete(ClientEvent, tag="conversation.item.delete"):
    """Remove an item."""

    item_id: str


class ConversationItemRetrieve(ClientEvent, tag="conversation.item.retrieve"):
    """Ask for the server's copy of an item."""

    item_id: str


class ConversationItemTruncate(ClientEvent, tag="conversation.item.truncate"):
    """Cut an assistant audio item to what the user heard."""

    item_id: str
    content_index: int
    audio_end_ms: int


class ResponseParams(msgspec.Struct, kw_only=True):
    """The optional `response` of `response.create`."""

    instructions: str | None = None
    metadata: dict[str, str] | None = None
    conversation: str | None = None
    output_modalities: list[str] | None = None


class ResponseCreate(ClientEvent, tag="response.create"):
    """Ask the model to respond."""

    response: ResponseParams | None = None


class ResponseCancel(ClientEvent, tag="response.cancel"):
    """Stop the response in progress."""

    response_id: str | None = None


AnyClientEvent = (
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemDelete
    | ConversationItemRetrieve
    | ConversationItemTruncate
    | ResponseCreate
    | ResponseCancel
)

CLIENT_EVENT_TYPES: tuple[str, ...] = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "response.create",
    "response.cancel",
)


# ---------------------------------------------------------------------------------------------- server events


class ServerEvent(msgspec.Struct, tag_field="type", kw_only=True):
    """Base of the events the server sends; each gets a fresh `event_id`."""

    event_id: str = msgspec.field(default_factory=_event_id)


class ErrorBody(msgspec.Struct, kw_only=True):
    """What went wrong; `event_id` names the client event that caused it."""

    type: str
    code: str | None
    message: str
    param: str | None = None
    event_id: str | None = None


class Error(ServerEvent, tag="error"):
    """A recoverable error: the session stays open unless the server closes it."""

    error: ErrorBody


class SessionCreated(ServerEvent, tag="session.created"):
    """First event of every connection, with the default configuration."""

    session: dict[str, Any]


class SessionUpdated(ServerEvent, tag="session.updated"):
    """The whole configuration after a `session.update`."""

    session: dict[str, Any]


class SpeechStarted(ServerEvent, tag="input_audio_buffer.speech_started"):
    """Server VAD heard speech start; `item_id` is the user item it will become."""

    audio_start_ms: int
    item_id: str


class SpeechStopped(ServerEvent, tag="input_audio_buffer.speech_stopped"):
    """Server VAD heard the speech end."""

    audio_end_ms: int
    item_id: str


class Committed(ServerEvent, tag="input_audio_buffer.committed"):
    """The buffered audio became a user item."""

    item_id: str
    previous_item_id: str | None


class Cleared(ServerEvent, tag="input_audio_buffer.cleared"):
    """The input buffer was emptied."""


class ItemAdded(ServerEvent, tag="conversation.item.added"):
    """An item joined the conversation (its content may still grow)."""

    item: Item
    previous_item_id: str | None


class ItemDone(ServerEvent, tag="conversation.item.done"):
    """An item is complete."""

    item: Item
    previous_item_id: str | None


class ItemDeleted(ServerEvent, tag="conversation.item.deleted"):
    """An item left the conversation."""

    item_id: str


class ItemRetrieved(ServerEvent, tag="conversation.item.retrieved"):
    """The server's copy of an item."""

    item: Item


class ItemTruncated(ServerEvent, tag="conversation.item.truncated"):
    """An assistant audio item was cut to `audio_end_ms`."""

    item_id: str
    content_index: int
    audio_end_ms: int


class TranscriptionUsage(msgspec.Struct, tag="tokens", tag_field="type", kw_only=True):
    """Token usage of an input transcription."""

    total_tokens: int
    input_tokens: int
    output_tokens: int


class TranscriptionCompleted(ServerEvent, tag="conversation.item.input_audio_transcription.completed"):
    """What the user said, as the transcription model heard it."""

    item_id: str
    content_index: int
    transcript: str
    usage: TranscriptionUsage
    logprobs: None = None


class TranscriptionDelta(ServerEvent, tag="conversation.item.input_audio_transcription.delta"):
    """A piece of what the user said, as the transcription model hears it, before `.completed`."""

    item_id: str
    content_index: int
    delta: str
    logprobs: None = None


class ResponseCreated(ServerEvent, tag="response.created"):
    """A response started."""

    response: Response


class ResponseDone(ServerEvent, tag="response.done"):
    """A response ended (`completed`, `cancelled`…), with its output and usage."""

    response: Response


class OutputItemAdded(ServerEvent, tag="response.output_item.added"):
    """A response produced a new item."""

    response_id: str
    output_index: int
    item: Item


class OutputItemDone(ServerEvent, tag="response.output_item.done"):
    """A response item is complete."""

    response_id: str
    output_index: int
    item: Item


class ContentPartAdded(ServerEvent, tag="response.content_part.added"):
    """An item got a content part."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPartRef


class ContentPartDone(ServerEvent, tag="response.content_part.done"):
    """A content part is complete."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPartRef


class AudioDelta(ServerEvent, tag="response.output_audio.delta"):
    """A chunk of the reply's audio, base64 in the session's output format."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


class AudioDone(ServerEvent, tag="response.output_audio.done"):
    """No more audio for this part."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int


class TranscriptDelta(ServerEvent, tag="response.output_audio_transcript.delta"):
    """A piece of the reply's transcript."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


class TranscriptDone(ServerEvent, tag="response.output_audio_transcript.done"):
    """The reply's full transcript."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    transcript: str


class TextDelta(ServerEvent, tag="response.output_text.delta"):
    """A piece of a text-only reply (`output_modalities: ["text"]`)."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


class TextDone(ServerEvent, tag="response.output_text.done"):
    """A text-only reply's full text."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int
    text: str


class ArgumentsDelta(ServerEvent, tag="response.function_call_arguments.delta"):
    """A piece of a function call's JSON arguments."""

    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str


class ArgumentsDone(ServerEvent, tag="response.function_call_arguments.done"):
    """A function call's complete JSON arguments."""

    response_id: str
    item_id: str
    output_index: int
    call_id: str
    name: str
    arguments: str


class RateLimit(msgspec.Struct, kw_only=True):
    """One rate limit bucket."""

    name: str
    limit: int
    remaining: int
    reset_seconds: float


class RateLimitsUpdated(ServerEvent, tag="rate_limits.updated"):
    """Rate limits after a response started."""

    rate_limits: list[RateLimit]
