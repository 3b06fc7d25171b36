"""An emulator of the OpenAI Realtime API (GA protocol) over WebSocket, driven by a script.

It speaks the protocol the way api.openai.com does, closely enough that
`livekit.plugins.openai.realtime.RealtimeModel(base_url=emulator.base_url)` runs against it unmodified: server
VAD on the caller's audio, scripted transcripts and replies (synthesized speech), barge-in cancellation,
truncation, function calls, errors, and knobs to break it (latency, dropped sockets, refused connections).

    script = Script(
        greeting="Thank you for calling. How can I help?",
        turns=(
            Turn("I need to move my appointment.", "Sure, let me look it up."),
            Turn("It is under Ana Lopez.", "One moment.", FunctionCallSpec("find_booking", {"name": "Ana Lopez"})),
        ),
    )
    async with OpenAIRealtimeEmulator(script=script, behaviour=Behaviour(first_delta_latency_s=0.05)) as emulator:
        model = RealtimeModel(api_key="test", base_url=emulator.base_url)  # or a raw client on emulator.ws_url
        ...
        session = await emulator.wait_for_session(0)
        done = await session.wait_for("response.done")          # a RecordedEvent; .payload is the JSON
        session.types("client"), session.truncations, session.function_outputs, session.audio_received_ms
        await emulator.close_sessions(1011)                       # or emulator.fail_next_connections(2)

`python -m switchboard.sim.openai_realtime --port 8765 [--language es]` serves it on its own.
"""

from switchboard.sim.openai_realtime.behaviour import Behaviour
from switchboard.sim.openai_realtime.items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudio,
    InputText,
    Item,
    MessageItem,
    OutputAudio,
    OutputText,
)
from switchboard.sim.openai_realtime.recording import (
    EmulatedSession,
    RecordedEvent,
    ResponseRecord,
    Truncation,
)
from switchboard.sim.openai_realtime.script import (
    FunctionCallSpec,
    Script,
    Turn,
    english_receptionist,
    spanish_receptionist,
)
from switchboard.sim.openai_realtime.server import INVALID_KEY_CLOSE_CODE, AuthFailure, OpenAIRealtimeEmulator

__all__ = [
    "INVALID_KEY_CLOSE_CODE",
    "AuthFailure",
    "Behaviour",
    "EmulatedSession",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "FunctionCallSpec",
    "InputAudio",
    "InputText",
    "Item",
    "MessageItem",
    "OpenAIRealtimeEmulator",
    "OutputAudio",
    "OutputText",
    "RecordedEvent",
    "ResponseRecord",
    "Script",
    "Truncation",
    "Turn",
    "english_receptionist",
    "spanish_receptionist",
]
