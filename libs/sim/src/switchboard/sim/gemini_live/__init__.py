"""An emulator of the Gemini Live API (`BidiGenerateContent`), accepted as is by the `google-genai` SDK.

```python
async with GeminiLiveEmulator(GeminiScript.english_receptionist()) as gemini:
    client = genai.Client(
        api_key=gemini.api_key,
        http_options=types.HttpOptions(
            base_url=gemini.base_url,
            api_version="v1beta",
            async_client_args={"ssl": gemini.client_ssl_context()},
        ),
    )
    async with client.aio.live.connect(model=..., config=...) as session:
        ...
    assert gemini.latest_session.completed_turns == 1
```
"""

from switchboard.sim.gemini_live.config import GeminiLiveConfig
from switchboard.sim.gemini_live.recording import ConnectionRecord, RecordedMessage
from switchboard.sim.gemini_live.script import GeminiScript, ReplyRequest, ScriptedToolCall
from switchboard.sim.gemini_live.server import GeminiLiveEmulator
from switchboard.sim.gemini_live.session import LiveSession, Turn
from switchboard.sim.gemini_live.tls import LocalAuthority

__all__ = [
    "ConnectionRecord",
    "GeminiLiveConfig",
    "GeminiLiveEmulator",
    "GeminiScript",
    "LiveSession",
    "LocalAuthority",
    "RecordedMessage",
    "ReplyRequest",
    "ScriptedToolCall",
    "Turn",
]
