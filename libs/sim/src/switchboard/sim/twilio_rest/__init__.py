"""Twilio's REST API for calls, emulated: create, fetch, update and list calls, and what Twilio then does.

A created call rings, is answered (or not: busy, no-answer, failed, as its `Callee` decides), posts signed status
callbacks in order with `SequenceNumber`, and runs its TwiML: a `<Connect><Stream>` connects the simulated
phone (`switchboard.sim.phone.MediaStreamCall`) to the stream URL with its `<Parameter>`s, signed. A REST
update with `Status=completed` hangs up; with new `Twiml` (a `<Dial>`) it transfers. Inbound calls ask a
number's voice URL (signed) what to do.

```python
async with TwilioRestEmulator(auth_token=token, media_routes={"wss://edge.example.com": "ws://127.0.0.1:8081"}) as twilio:
    client = Client(twilio.account_sid, token, http_client=<a client rewriting api.twilio.com to twilio.base_url>)
    ...
    call = await twilio.wait_for_call()  # bound waits with asyncio.timeout
    phone = await call.wait_for_phone()
    await phone.say("hola")
    await call.wait_status("completed")
```
"""

from switchboard.sim.twilio_rest.behaviour import Callee, EmulatorTiming, IncomingNumber
from switchboard.sim.twilio_rest.call import CallLog, CallOptions, EmulatedCall, StreamSession
from switchboard.sim.twilio_rest.lifecycle import MediaRoutes
from switchboard.sim.twilio_rest.received import ReceivedRequest
from switchboard.sim.twilio_rest.resources import ApiError
from switchboard.sim.twilio_rest.server import TwilioRestEmulator
from switchboard.sim.twilio_rest.twiml import TwimlError, parse_twiml
from switchboard.sim.twilio_rest.webhooks import Delivery, StatusCallbacks, WebhookClient

__all__ = [
    "ApiError",
    "CallLog",
    "CallOptions",
    "Callee",
    "Delivery",
    "EmulatedCall",
    "EmulatorTiming",
    "IncomingNumber",
    "MediaRoutes",
    "ReceivedRequest",
    "StatusCallbacks",
    "StreamSession",
    "TwilioRestEmulator",
    "TwimlError",
    "WebhookClient",
    "parse_twiml",
]
