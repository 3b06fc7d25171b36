"""Tell the emulator's SIP phones when Switchboard flushes the agent's audio, so their reports count barge-ins.

On Twilio the phone sees `clear` in its media stream; a SIP phone behind LiveKit is never told (the edge clears
its `AudioSource`). Whoever runs the emulator next to a Switchboard bus can watch the same `ctl.clear` the edge
acts on and note it on the call's phone (`SipPhone.note_clear`), as the end-to-end tests do. The call is found
as Switchboard names it: the room `call-{call_id}` of an outbound call, `lk_{sip call id}` for an inbound one.
"""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from switchboard.common.bus import subjects
from switchboard.common.bus.messages import Clear
from switchboard.sim.livekit.sip import SipService
from switchboard.sim.livekit.sip_phone import SipPhone

logger = logging.getLogger(__name__)

ROOM_PREFIX = "call-"
INBOUND_CALL_PREFIX = "lk_"


def phones_of_call(sip: SipService, call_id: str) -> list[SipPhone]:
    """The live, answered phones of Switchboard call `call_id`."""
    return [
        phone
        for phone in sip.phones
        if not phone.ended
        and phone.answered
        and (phone.room.name == ROOM_PREFIX + call_id or INBOUND_CALL_PREFIX + phone.call_id == call_id)
    ]


class ClearWatch:
    """Notes every `ctl.clear` on the bus on the phones of its call, while connected."""

    def __init__(self, sip: SipService) -> None:
        self._sip = sip
        self._nc: Client | None = None
        self._subscription: Subscription | None = None
        self.noted = 0

    async def start(self, nats_url: str) -> None:
        """Connect and watch (a bus that is down is retried by the client in the background)."""
        self._nc = await nats.connect(
            nats_url, max_reconnect_attempts=-1, name="livekit-emulator-clear-watch"
        )
        subject = subjects.control(subjects.ANY, Clear.type_name())
        self._subscription = await self._nc.subscribe(subject, cb=self._on_clear)

    async def _on_clear(self, message: Msg) -> None:
        try:
            call_id = subjects.call_id_of(message.subject)
        except ValueError:
            logger.warning("ignored a clear on %s", message.subject)
            return
        for phone in phones_of_call(self._sip, call_id):
            phone.note_clear()
            self.noted += 1

    async def close(self) -> None:
        """Stop watching and disconnect."""
        if self._nc is not None:
            await self._nc.drain()
            self._nc = None
