"""A LiveKit server emulator that the real `livekit` rtc and `livekit-api` SDKs use unmodified.

```python
async with LiveKitEmulator(keys=ApiKeys("devkey", "devsecret…"), webhook_urls=[url]) as lk:
    lk.sip.add_outbound_trunk(sip.SIPOutboundTrunkInfo(sip_trunk_id="ST_out", numbers=["+15550100000"]))
    lk.sip.next_callee(Callee.answering(ring_s=0.5))        # or busy(), unavailable(), no_answer(), failing(503)
    room = rtc.Room()
    await room.connect(lk.ws_url, token)                     # signalling + WebRTC (aiortc) on 127.0.0.1
    lkapi = api.LiveKitAPI(lk.http_url, "devkey", "devsecret…")
    await lkapi.sip.create_sip_participant(api.CreateSIPParticipantRequest(
        sip_trunk_id="ST_out", sip_call_to="+15557654321", room_name=room.name, wait_until_answered=True))
    phone = lk.sip.phone_in(room.name, "sip_+15557654321")  # SipPhone: say(), dtmf(), hang_up(), report()
    await phone.wait_for_audio()
    inbound = await lk.sip.place_inbound_call("+15557654321", "+15550100000")  # through the dispatch rules
```

Modules: `server` (the emulator, `/rtc`), `signal` and `peer` (one client's signalling and PeerConnections),
`room` and `participant` (rooms, members, relayed tracks, data), `twirp` (RoomService, SIP, AgentDispatch),
`sip`, `sip_phone` and `phone_media` (the SIP service and its phones), `webhooks`, `control` (`/_emulator/`),
`auth` (tokens and grants).
"""

from switchboard.sim.livekit.auth import ApiKeys, Unauthorized
from switchboard.sim.livekit.room import Room
from switchboard.sim.livekit.server import LiveKitEmulator
from switchboard.sim.livekit.sip import Callee, SipFailure
from switchboard.sim.livekit.sip_phone import CallStatus, SipPhone

__all__ = [
    "ApiKeys",
    "CallStatus",
    "Callee",
    "LiveKitEmulator",
    "Room",
    "SipFailure",
    "SipPhone",
    "Unauthorized",
]
