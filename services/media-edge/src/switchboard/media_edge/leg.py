"""The phone leg of a call, as the call's logic (`EdgeCall`) sees it.

A leg is one transport's connection to the caller: a Twilio media stream, or a LiveKit room's SIP participant.
It brings caller audio in (into the call's `Uplink`), takes agent audio out (its `Playback`, driven by the call's
`Downlink`), reports key presses (`EdgeCall.on_dtmf`) and ends when the caller hangs up or the edge closes it.
Everything else (the record, attaching the agent, generations, playout reports, hang-up, re-attach) is the
call's and the same for every transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from switchboard.common.bus.formats import AudioFormat

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_ERROR = 1011


@dataclass(frozen=True, slots=True)
class LegIds:
    """The transport's ids of the leg and of its call.

    Twilio: the stream SID and the call SID; LiveKit: the room and SIP participant, and the SIP call id.
    """

    stream_id: str
    provider_call_id: str


class PhoneLeg(Protocol):
    """What the call needs from its leg."""

    transport: str
    """The `transport` of the call records it serves: ``twilio``, ``livekit``."""
    caller_formats: tuple[AudioFormat, AudioFormat] | None
    """The formats of the audio it gives and takes when it can speak the agent's (None: μ-law at 8 kHz)."""

    async def close(self, code: int, reason: str) -> None:
        """End the leg from this side; `code` is a WebSocket close code (1000 normal, 1008 policy, 1011 error)."""
        ...

    async def send_dtmf(self, digits: str) -> bool:
        """Play key presses to the caller; False when the transport cannot."""
        ...


class ServedLeg(Protocol):
    """A leg as the edge serves it: run to its end, counted meanwhile, closed at the drain deadline."""

    call_id: str

    async def run(self) -> None:
        """Serve the leg until it ends; nothing is left running when it returns."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """End the leg from this side."""
        ...
