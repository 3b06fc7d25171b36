"""A Gemini Live session as the emulated service keeps it: configuration, history and counters.

A session outlives its connections: a new connection whose `setup` carries a resumption handle continues it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from switchboard.sim.gemini_live._wire import Json, get_path
from switchboard.sim.gemini_live.recording import Direction, RecordedMessage

Role = Literal["user", "model"]
Source = Literal["audio", "text"]


@dataclass(slots=True)
class Turn:
    """One entry of the model's context."""

    role: Role
    text: str
    """The transcript (caller audio), the text (`clientContent`), or what the model had sent when it stopped."""
    source: Source
    audio_ms: float = 0.0
    interrupted: bool = False


@dataclass(slots=True, eq=False)
class LiveSession:
    """State of one emulated session, exposed for assertions."""

    id: str
    setup: Json
    """The latest connection's `setup`, camelCase (a resumed connection sends it again)."""
    history: list[Turn] = field(default_factory=list)
    client_texts: list[str] = field(default_factory=list)
    """Every text part received in `clientContent`."""
    heard_notes: list[str] = field(default_factory=list)
    """Texts of `clientContent` sent with `turnComplete: false` (context notes, e.g. what the caller heard)."""
    tool_calls: list[Json] = field(default_factory=list)
    tool_responses: list[Json] = field(default_factory=list)
    cancelled_tool_call_ids: list[str] = field(default_factory=list)
    audio_received_ms: float = 0.0
    caller_turns: int = 0
    model_turns: int = 0
    completed_turns: int = 0
    interruptions: int = 0
    greeted: bool = False
    connections: int = 0
    resumptions: int = 0
    handles: list[str] = field(default_factory=list)
    messages: list[RecordedMessage] = field(default_factory=list)
    created_at: float = field(default_factory=time.monotonic)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    # Configuration, read from `setup` (the SDK nests speechConfig in generationConfig; both places work).

    @property
    def model(self) -> str:
        """The model name as sent (`models/…`)."""
        return str(self.setup.get("model", ""))

    @property
    def response_modalities(self) -> list[str]:
        """`["AUDIO"]` unless the client asked for text."""
        modalities = get_path(self.setup, "generationConfig", "responseModalities")
        return [str(m) for m in modalities] if modalities else ["AUDIO"]

    @property
    def voice_name(self) -> str | None:
        """The prebuilt voice requested."""
        path = ("speechConfig", "voiceConfig", "prebuiltVoiceConfig", "voiceName")
        value = get_path(self.setup, "generationConfig", *path) or get_path(self.setup, *path)
        return str(value) if value else None

    @property
    def language_code(self) -> str | None:
        """The speech language requested (`en-US`, `es-ES`, …)."""
        value = get_path(self.setup, "generationConfig", "speechConfig", "languageCode") or get_path(
            self.setup, "speechConfig", "languageCode"
        )
        return str(value) if value else None

    @property
    def system_instruction(self) -> str:
        """The text of the system instruction."""
        instruction = self.setup.get("systemInstruction")
        if isinstance(instruction, str):
            return instruction
        parts = get_path(self.setup, "systemInstruction", "parts") or []
        return "".join(str(part.get("text", "")) for part in parts if isinstance(part, dict))

    @property
    def function_names(self) -> list[str]:
        """Names of the declared functions."""
        names: list[str] = []
        for tool in self.setup.get("tools") or []:
            for declaration in get_path(tool, "functionDeclarations") or []:
                names.append(str(declaration.get("name", "")))
        return names

    @property
    def resumption_requested(self) -> bool:
        """Whether the client asked for `sessionResumptionUpdate`s."""
        return "sessionResumption" in self.setup

    @property
    def input_transcription(self) -> bool:
        """Whether the client asked for transcripts of the caller."""
        return "inputAudioTranscription" in self.setup

    @property
    def output_transcription(self) -> bool:
        """Whether the client asked for transcripts of the model's speech."""
        return "outputAudioTranscription" in self.setup

    @property
    def activity_handling(self) -> str:
        """`START_OF_ACTIVITY_INTERRUPTS` (the default) or `NO_INTERRUPTION`."""
        value = get_path(self.setup, "realtimeInputConfig", "activityHandling")
        return str(value) if value else "START_OF_ACTIVITY_INTERRUPTS"

    @property
    def automatic_activity_detection(self) -> Json:
        """`realtimeInputConfig.automaticActivityDetection`, empty when not set."""
        value = get_path(self.setup, "realtimeInputConfig", "automaticActivityDetection")
        return value if isinstance(value, dict) else {}

    # Records.

    def client_messages(self, kind: str | None = None) -> list[RecordedMessage]:
        """Messages received, optionally only those of one `kind` (e.g. `"clientContent"`)."""
        return self._select("client", kind)

    def server_messages(self, kind: str | None = None) -> list[RecordedMessage]:
        """Messages sent, optionally only those of one `kind` (e.g. `"toolCall"`)."""
        return self._select("server", kind)

    def server_content(self, field_name: str) -> list[Any]:
        """The values of one `serverContent` field in the order sent (e.g. `"inputTranscription"`)."""
        found = (m.body["serverContent"].get(field_name) for m in self.server_messages("serverContent"))
        return [value for value in found if value is not None]

    def record(self, direction: Direction, body: Json, connection: int) -> None:
        """Keep a message and wake those waiting on this session."""
        kind = next(iter(body), "")
        self.messages.append(RecordedMessage(direction, kind, body, time.monotonic(), connection))
        self.notify()

    def notify(self) -> None:
        """Wake `wait_for` callers to re-check their condition."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[LiveSession], bool]) -> None:
        """Return once `predicate(self)` holds (bound the wait with `asyncio.timeout`)."""
        while not predicate(self):
            await self._changed.wait()

    def _select(self, direction: Direction, kind: str | None) -> list[RecordedMessage]:
        return [m for m in self.messages if m.direction == direction and (kind is None or m.kind == kind)]
