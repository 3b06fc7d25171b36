"""What happened on each emulated session, for tests to assert on and wait for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from switchboard.sim.openai_realtime.behaviour import Behaviour
from switchboard.sim.openai_realtime.items import FunctionCallItem, FunctionCallOutputItem, Item, MessageItem
from switchboard.sim.openai_realtime.script import Script, english_receptionist

if TYPE_CHECKING:
    from switchboard.sim.openai_realtime._connection import Connection

Direction = Literal["client", "server"]


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One event on the socket, with when it was received or sent (`time.monotonic()`).

    `payload` is the event as JSON would decode it. Audio (`input_audio_buffer.append.audio`,
    `response.output_audio.delta.delta`) is blanked unless `Behaviour.record_audio` is set; `audio_bytes` still
    says how much there was.
    """

    direction: Direction
    type: str
    at: float
    body: msgspec.Struct | dict[str, Any]
    audio_bytes: int = 0

    @property
    def payload(self) -> dict[str, Any]:
        """The event as a JSON object."""
        if isinstance(self.body, dict):
            return self.body
        builtins: dict[str, Any] = msgspec.to_builtins(self.body)
        return builtins


@dataclass(frozen=True, slots=True)
class Truncation:
    """A `conversation.item.truncate` the server accepted, and the transcript it kept."""

    item_id: str
    audio_end_ms: int
    audio_sent_ms: float
    transcript: str
    full_transcript: str


@dataclass(slots=True)
class ResponseRecord:
    """A response and how it ended."""

    id: str
    trigger: Literal["client", "server_vad"]
    text: str = ""
    kind: Literal["message", "function_call"] = "message"
    status: str = "in_progress"
    reason: str | None = None
    item_id: str | None = None
    audio_sent_ms: float = 0.0
    metadata: dict[str, str] | None = None


@dataclass(eq=False)
class EmulatedSession:
    """One realtime connection: its configuration, conversation and every event both ways.

    The conversation (`items`) holds the wire items; `truncations`, `function_outputs` and `responses` say
    what the client did with them. `audio_received_ms` counts the caller audio appended so far. `script` and
    `behaviour` start as the emulator's and may be replaced for this session alone, even mid-call.
    """

    id: str
    model: str
    config: dict[str, Any]
    script: Script = field(default_factory=english_receptionist)
    behaviour: Behaviour = field(default_factory=Behaviour)
    connected_at: float = field(default_factory=time.monotonic)
    events: list[RecordedEvent] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    truncations: list[Truncation] = field(default_factory=list)
    function_outputs: dict[str, str] = field(default_factory=dict)
    responses: list[ResponseRecord] = field(default_factory=list)
    audio_received_ms: float = 0.0
    assistant_audio_ms: dict[str, float] = field(default_factory=dict)
    close_code: int | None = None
    closed: bool = False
    _connection: Connection | None = field(default=None, repr=False)
    _waiters: list[tuple[Callable[[RecordedEvent], bool], asyncio.Future[RecordedEvent]]] = field(
        default_factory=list, repr=False
    )
    _closed_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def client_events(self) -> list[RecordedEvent]:
        """Events the client sent, in order."""
        return [event for event in self.events if event.direction == "client"]

    @property
    def server_events(self) -> list[RecordedEvent]:
        """Events the server sent, in order."""
        return [event for event in self.events if event.direction == "server"]

    def types(self, direction: Direction = "server") -> list[str]:
        """Event types one way, in order."""
        return [event.type for event in self.events if event.direction == direction]

    def item(self, item_id: str) -> Item | None:
        """The conversation item with this id."""
        return next((item for item in self.items if item.id == item_id), None)

    def messages(self, role: Literal["user", "assistant", "system"]) -> list[MessageItem]:
        """Messages of one role, in conversation order."""
        return [item for item in self.items if isinstance(item, MessageItem) and item.role == role]

    def function_calls(self) -> list[FunctionCallItem]:
        """Function calls the model made, in conversation order."""
        return [item for item in self.items if isinstance(item, FunctionCallItem)]

    def function_call_outputs(self) -> list[FunctionCallOutputItem]:
        """Function results the client returned, in conversation order."""
        return [item for item in self.items if isinstance(item, FunctionCallOutputItem)]

    async def wait_for(
        self,
        event_type: str,
        *,
        direction: Direction = "server",
        where: Callable[[RecordedEvent], bool] | None = None,
        since: int = 0,
    ) -> RecordedEvent:
        """The first event of `event_type` (matching `where`) at or after index `since` of `events`.

        Waits for it if it has not happened yet; bound the wait with `asyncio.timeout`.
        """

        def matches(event: RecordedEvent) -> bool:
            return (
                event.direction == direction and event.type == event_type and (where is None or where(event))
            )

        for event in self.events[since:]:
            if matches(event):
                return event
        future: asyncio.Future[RecordedEvent] = asyncio.get_running_loop().create_future()
        waiter = (matches, future)
        self._waiters.append(waiter)
        try:
            return await future
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def wait_closed(self) -> int | None:
        """Wait until the connection is gone; returns the close code the server used, if it closed it."""
        await self._closed_event.wait()
        return self.close_code

    async def close(self, code: int = 1011, reason: str = "") -> None:
        """Close this connection from the server side, as a crash or a deploy would."""
        if self._connection is not None:
            await self._connection.close(code, reason)

    async def inject_error(
        self, message: str, *, code: str | None = "server_error", error_type: str = "server_error"
    ) -> None:
        """Send an `error` event out of the blue."""
        if self._connection is not None:
            await self._connection.send_error(message, code=code, error_type=error_type)

    def attach(self, connection: Connection) -> None:
        """Bind the live connection that `close()` and `inject_error()` act on."""
        self._connection = connection

    def record(self, event: RecordedEvent) -> None:
        """Append an event and wake whoever waits for it."""
        self.events.append(event)
        for matches, future in list(self._waiters):
            if not future.done() and matches(event):
                future.set_result(event)

    def mark_closed(self, code: int | None) -> None:
        """The connection ended; `code` is the server's close code when the server closed it."""
        self.closed = True
        if self.close_code is None:
            self.close_code = code
        self._connection = None
        self._closed_event.set()
