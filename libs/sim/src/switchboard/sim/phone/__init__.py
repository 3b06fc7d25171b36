"""The simulated phone: Twilio's side of a Media Stream, with an exact emulation of its playout buffer.

```python
async with MediaStreamCall("ws://127.0.0.1:8080/twilio/stream", auth_token=token,
                           public_url="wss://edge.example.com/twilio/stream",
                           custom_parameters={"token": call_token}) as call:
    async with asyncio.timeout(10):
        greeting_at = await call.wait_for_audio(threshold_dbfs=-40)
        await call.wait_for_silence(0.8)
    utterance = await call.say("I would like to book a table")
    await utterance.wait()
    await call.dtmf("5")
report = call.report()
assert report.time_to_first_audio_ms is not None and report.time_to_first_audio_ms < 1500, report.summary()
call.save_heard_wav("heard.wav")
```
"""

from switchboard.sim.phone.call import MediaStreamCall
from switchboard.sim.phone.errors import CallEnded, CallRejected, PhoneFailure
from switchboard.sim.phone.heard import HeardAudio
from switchboard.sim.phone.messages import ProtocolViolation, StreamIdentity
from switchboard.sim.phone.outbound import Utterance, load_wav
from switchboard.sim.phone.pacing import FrameSchedule, PacingStats
from switchboard.sim.phone.playout import ClearRecord, MarkRecord, PlayedSegment, PlayoutBuffer
from switchboard.sim.phone.report import CallReport, ClearReport, Gap, build_report

__all__ = [
    "CallEnded",
    "CallRejected",
    "CallReport",
    "ClearRecord",
    "ClearReport",
    "FrameSchedule",
    "Gap",
    "HeardAudio",
    "MarkRecord",
    "MediaStreamCall",
    "PacingStats",
    "PhoneFailure",
    "PlayedSegment",
    "PlayoutBuffer",
    "ProtocolViolation",
    "StreamIdentity",
    "Utterance",
    "build_report",
    "load_wav",
]
