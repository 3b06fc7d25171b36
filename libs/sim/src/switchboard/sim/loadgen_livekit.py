"""The load generator's LiveKit phones: the LiveKit emulator and its SIP callees, in a process of their own.

`LoadGenerator` with `LoadOptions(transport="livekit")` runs this module as its phones worker
(`python -m switchboard.sim.loadgen_livekit --worker phones`) instead of the Twilio one. call-control dials each
call with `CreateSIPParticipant` on the emulator's outbound trunk (`Endpoints.livekit_trunk`), the edge joins the
call's room with the rtc SDK, and every SIP phone that answers gets a callee who talks like the Twilio callees do
(the same lines, pauses and barge-ins). The emulator's media (aiortc: its relay between the phone and the edge, the
Opus the edge sends) is this process's CPU, apart from the platform's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import uvloop
from livekit.protocol import sip

from switchboard.sim.livekit import ApiKeys, Callee, LiveKitEmulator, SipPhone
from switchboard.sim.loadgen import Callees, Endpoints, LoadOptions, run_worker, serve_callees
from switchboard.sim.phone import PacingStats
from switchboard.sim.phone.outbound import Utterance
from switchboard.sim.phone.playout import PlayoutBuffer

ROOM_PREFIX = "call-"
"""call-control names a call's room `call-<call id>`."""
AUDIBLE_WINDOW_S = 0.2
AUDIBLE_DBFS = -40.0
_POLL_S = 0.1


class _SipLine:
    """A SIP phone as a callee sees it (`CalleePhone`).

    The room's audio arrives in real time, silence included, so the phone's buffer holds next to nothing ahead:
    the agent speaks while what the caller heard in the last `AUDIBLE_WINDOW_S` had sound in it.
    """

    def __init__(self, phone: SipPhone) -> None:
        self._phone = phone

    @property
    def closed(self) -> bool:
        return self._phone.ended

    @property
    def buffer(self) -> PlayoutBuffer:
        return self._phone.buffer

    @property
    def pacing(self) -> PacingStats:
        return self._phone.pacing

    def agent_audible(self) -> bool:
        buffer = self._phone.buffer
        since = max(0.0, buffer.elapsed_s() - AUDIBLE_WINDOW_S)
        return buffer.heard(since).audible_ms(since, threshold_dbfs=AUDIBLE_DBFS) > 0

    async def say(self, speech: npt.NDArray[np.int16]) -> Utterance:
        return await self._phone.say(speech)


async def _follow_sip_phones(emulator: LiveKitEmulator, callees: Callees) -> None:
    """Give every phone the SIP service dials a callee, once it has answered."""

    async def follow(phone: SipPhone) -> None:
        while not phone.answered:  # polling the phone's SIP status: ringing, then answered or failed
            if phone.ended:
                return
            await asyncio.sleep(_POLL_S)
        call_id = phone.room.name.removeprefix(ROOM_PREFIX)
        await callees.talk(call_id, _SipLine(phone))

    seen = 0
    while True:
        phones = list(emulator.sip.phones)
        for phone in phones[seen:]:
            callees.spawn(follow(phone))
        seen = len(phones)
        await asyncio.sleep(_POLL_S)


async def serve_sip_phones(
    endpoints: Endpoints, options: LoadOptions, commands: asyncio.StreamReader
) -> None:
    """Serve LiveKit (rooms, SIP) on `endpoints.livekit_port`; answer `status` and `report` until told to stop."""
    emulator = LiveKitEmulator(
        keys=ApiKeys(endpoints.livekit_api_key, endpoints.livekit_api_secret),
        port=endpoints.livekit_port,
        webhook_urls=[endpoints.livekit_webhook_url] if endpoints.livekit_webhook_url else [],
    )
    emulator.sip.add_outbound_trunk(
        sip.SIPOutboundTrunkInfo(sip_trunk_id=endpoints.livekit_trunk, numbers=[endpoints.livekit_number])
    )
    emulator.sip.default_callee = Callee.answering(options.ring_s)
    async with emulator:
        callees = Callees(options)
        await serve_callees(callees, _follow_sip_phones(emulator, callees), emulator.http_url, commands)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the LiveKit phones worker (started by `LoadGenerator`; its configuration comes on stdin)."""
    parser = argparse.ArgumentParser(prog="python -m switchboard.sim.loadgen_livekit", description=__doc__)
    parser.add_argument("--worker", choices=("phones",), required=True)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvloop.run(run_worker(serve_sip_phones))


if __name__ == "__main__":
    main()
