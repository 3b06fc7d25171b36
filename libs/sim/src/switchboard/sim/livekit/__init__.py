"""A LiveKit server emulator that the real `livekit` rtc and `livekit-api` SDKs use unmodified."""

from switchboard.sim.livekit.auth import ApiKeys, Unauthorized
from switchboard.sim.livekit.room import Room
from switchboard.sim.livekit.server import LiveKitEmulator

__all__ = ["ApiKeys", "LiveKitEmulator", "Room", "Unauthorized"]
