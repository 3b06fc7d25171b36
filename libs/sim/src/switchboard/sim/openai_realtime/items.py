"""Conversation items, content parts and responses of the OpenAI Realtime GA protocol.

The same structs decode what a client creates (`conversation.item.create`) and encode what the server reports
(`conversation.item.added`, `response.output_item.done`, `response.done`…), so an item reads the same on both
sides of the socket.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

ItemStatus = Literal["completed", "incomplete", "in_progress"]
ResponseStatus = Literal["in_progress", "completed", "cancelled", "incomplete", "failed"]


class InputText(msgspec.Struct, tag="input_text", tag_field="type", kw_only=True):
    """Text the user (or a system message) put in the conversation."""

    text: str


class InputAudio(msgspec.Struct, tag="input_audio", tag_field="type", kw_only=True):
    """Audio the user spoke; the server fills `transcript` once it is transcribed."""

    audio: str | None = None
    transcript: str | None = None


class InputImage(msgspec.Struct, tag="input_image", tag_field="type", kw_only=True):
    """An image the user showed; kept for the record only."""

    image_url: str | None = None
    detail: str | None = None


class OutputText(msgspec.Struct, tag="output_text", tag_field="type", kw_only=True):
    """Assistant text, as a client replays earlier assistant turns."""

    text: str


class OutputAudio(msgspec.Struct, tag="output_audio", tag_field="type", kw_only=True):
    """Assistant audio; the item keeps its transcript, not the audio."""

    audio: str | None = None
    transcript: str | None = None


ContentPart = InputText | InputAudio | InputImage | OutputText | OutputAudio


class MessageItem(msgspec.Struct, tag="message", tag_field="type", kw_only=True):
    """A user, assistant or system message."""

    role: Literal["user", "assistant", "system"]
    content: list[ContentPart] = msgspec.field(default_factory=list)
    id: str | None = None
    object: Literal["realtime.item"] = "realtime.item"
    status: ItemStatus = "completed"

    def text(self) -> str:
        """The words of the message: typed text, or transcripts of spoken audio."""
        words: list[str] = []
        for part in self.content:
            if isinstance(part, InputText | OutputText):
                words.append(part.text)
            elif isinstance(part, InputAudio | OutputAudio) and part.transcript:
                words.append(part.transcript)
        return " ".join(words)


class FunctionCallItem(msgspec.Struct, tag="function_call", tag_field="type", kw_only=True):
    """The model asks the client to run a function; `arguments` is a JSON string."""

    call_id: str
    name: str
    arguments: str = ""
    id: str | None = None
    object: Literal["realtime.item"] = "realtime.item"
    status: ItemStatus = "completed"


class FunctionCallOutputItem(msgspec.Struct, tag="function_call_output", tag_field="type", kw_only=True):
    """The client's result for a function call."""

    call_id: str
    output: str
    id: str | None = None
    object: Literal["realtime.item"] = "realtime.item"
    status: ItemStatus = "completed"


Item = MessageItem | FunctionCallItem | FunctionCallOutputItem


class ContentPartRef(msgspec.Struct, kw_only=True):
    """The `part` of `response.content_part.added/.done`: `audio` with its transcript, or `text`."""

    type: Literal["audio", "text"] = "audio"
    transcript: str | None = None
    text: str | None = None


class StatusError(msgspec.Struct, kw_only=True):
    """Why a response failed."""

    type: str
    code: str | None = None
    message: str | None = None


class StatusDetails(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Why a response ended the way it did (`turn_detected`, `client_cancelled`…)."""

    type: Literal["completed", "cancelled", "incomplete", "failed"]
    reason: str | None = None
    error: StatusError | None = None


class CachedTokensDetails(msgspec.Struct, kw_only=True):
    """Cached input tokens by kind."""

    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0


class InputTokenDetails(msgspec.Struct, kw_only=True):
    """Input tokens by kind."""

    text_tokens: int = 0
    audio_tokens: int = 0
    image_tokens: int = 0
    cached_tokens: int = 0
    cached_tokens_details: CachedTokensDetails = msgspec.field(default_factory=CachedTokensDetails)


class OutputTokenDetails(msgspec.Struct, kw_only=True):
    """Output tokens by kind."""

    text_tokens: int = 0
    audio_tokens: int = 0


class Usage(msgspec.Struct, kw_only=True):
    """Token accounting of a response, the fields the LiveKit plugin turns into metrics."""

    total_tokens: int
    input_tokens: int
    output_tokens: int
    input_token_details: InputTokenDetails
    output_token_details: OutputTokenDetails


class ResponseAudioOutput(msgspec.Struct, kw_only=True):
    """The output format and voice a response speaks with."""

    format: dict[str, Any]
    voice: str


class ResponseAudio(msgspec.Struct, kw_only=True):
    """Audio settings of a response."""

    output: ResponseAudioOutput


class Response(msgspec.Struct, kw_only=True):
    """A response, as `response.created` announces it and `response.done` closes it."""

    id: str
    status: ResponseStatus
    output: list[Item]
    conversation_id: str | None
    output_modalities: list[str]
    max_output_tokens: int | Literal["inf"]
    audio: ResponseAudio
    object: Literal["realtime.response"] = "realtime.response"
    status_details: StatusDetails | None = None
    usage: Usage | None = None
    metadata: dict[str, str] | None = None
