"""What the emulator saw and did, kept for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["client", "server"]
Outcome = Literal["refused", "open", "closed", "aborted"]


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One message on a session's connections.

    `body` is the whole JSON message; client messages are normalised to camelCase (`realtime_input` is
    recorded as `realtimeInput`). `kind` is its first top-level key (`setup`, `realtimeInput`, `serverContent`,
    `toolCall`, …). `at` is `time.monotonic()` when it was received or handed to the socket; `connection` counts
    the session's connections from 0 (1 after the first resumption).
    """

    direction: Direction
    kind: str
    body: dict[str, Any]
    at: float
    connection: int


@dataclass(slots=True)
class ConnectionRecord:
    """One connection attempt and how it ended."""

    path: str
    at: float
    outcome: Outcome = "open"
    status: int = 101
    """HTTP status of the handshake (101 when the WebSocket was opened)."""
    session_id: str | None = None
    resumed: bool = False
    close_code: int | None = None
    close_reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
