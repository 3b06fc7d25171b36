"""The emulator's own HTTP API under `/_emulator/` (not LiveKit's): steer callees, place inbound calls, look.

- `POST /_emulator/inbound {"from": "+1555…", "to": "+1555…"}` places an inbound call through the dispatch rules;
  answers `{"room", "identity", "call_id"}` (404 with a message when no trunk or rule takes the number).
- `POST /_emulator/callee {"behaviour": "answer"|"busy"|"unavailable"|"no_answer"|"fail", "number": …,
  "ring_s": …, "status": …}` sets how the next outbound call (or every call to `number`) is met.
- `GET /_emulator/calls` lists the SIP calls: room, identity, call id, status, digits received.
- The person on the phone of call `{call_id}` (`SCL_…`), as on the Twilio emulator:
  `POST /_emulator/calls/{call_id}/say {"text", "language"}`, `POST …/dtmf {"digits"}`, `POST …/hangup`,
  `POST …/clear` (the agent side flushed now: for the report), `GET …/report`, `GET …/conversation.wav`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from switchboard.sim.livekit.sip import Callee, SipFailure
from switchboard.sim.livekit.sip_phone import DTMF_CODES, SipPhone
from switchboard.sim.phone.errors import CallEnded

if TYPE_CHECKING:
    from switchboard.sim.livekit.server import LiveKitEmulator


_CALL = "/_emulator/calls/{call_id}"


def callee_from(body: dict[str, Any]) -> Callee:
    """The `Callee` a control request describes; `ValueError` for an unknown behaviour."""
    behaviour = str(body.get("behaviour", "answer"))
    ring_s = float(body.get("ring_s", 0.2))
    if behaviour == "answer":
        return Callee.answering(ring_s)
    if behaviour == "busy":
        return Callee.busy(ring_s)
    if behaviour == "unavailable":
        return Callee.unavailable(ring_s)
    if behaviour == "no_answer":
        return Callee.no_answer()
    if behaviour == "fail":
        return Callee.failing(int(body.get("status", 503)), ring_s)
    raise ValueError(f"unknown behaviour {behaviour!r}")


class ControlApi:
    """Routes of `/_emulator/` over one emulator."""

    def __init__(self, emulator: LiveKitEmulator) -> None:
        self._emulator = emulator

    def install(self, app: web.Application) -> None:
        """Add the routes."""
        app.router.add_post("/_emulator/inbound", self._inbound)
        app.router.add_post("/_emulator/callee", self._callee)
        app.router.add_get("/_emulator/calls", self._calls)
        app.router.add_post(_CALL + "/say", self._say)
        app.router.add_post(_CALL + "/dtmf", self._dtmf)
        app.router.add_post(_CALL + "/hangup", self._hang_up)
        app.router.add_post(_CALL + "/clear", self._clear)
        app.router.add_get(_CALL + "/report", self._report)
        app.router.add_get(_CALL + "/conversation.wav", self._conversation)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError as e:
            raise web.HTTPBadRequest(text=f"the body is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="the body must be a JSON object")
        return body

    async def _inbound(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        try:
            phone = await self._emulator.sip.place_inbound_call(str(body["from"]), str(body["to"]))
        except KeyError as e:
            return web.json_response({"error": f"missing {e.args[0]!r}"}, status=400)
        except SipFailure as e:
            return web.json_response({"error": str(e), "sip_status_code": e.status}, status=404)
        return web.json_response(
            {"room": phone.room.name, "identity": phone.identity, "call_id": phone.call_id}, status=201
        )

    async def _callee(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        try:
            callee = callee_from(body)
        except (TypeError, ValueError) as e:
            return web.json_response({"error": str(e)}, status=400)
        number = body.get("number")
        if number:
            self._emulator.sip.callees[str(number)] = callee
        else:
            self._emulator.sip.next_callee(callee)
        return web.json_response({"ok": True})

    async def _calls(self, request: web.Request) -> web.StreamResponse:
        calls = [
            {
                "room": phone.room.name,
                "identity": phone.identity,
                "call_id": phone.call_id,
                "status": phone.status,
                "attributes": dict(phone.state.attributes),
                "dtmf_received": "".join(digit for _, digit in phone.dtmf_received),
                "transferred_to": phone.transferred_to,
            }
            for phone in self._emulator.sip.phones
        ]
        return web.json_response(calls)

    def _phone(self, request: web.Request, *, answered: bool = True) -> SipPhone:
        call_id = request.match_info["call_id"]
        phone = next((p for p in self._emulator.sip.phones if p.call_id == call_id), None)
        if phone is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no call {call_id}"}), content_type="application/json"
            )
        if answered and not phone.answered:
            raise web.HTTPConflict(
                text=json.dumps({"error": "the call was not answered"}), content_type="application/json"
            )
        return phone

    async def _say(self, request: web.Request) -> web.StreamResponse:
        phone = self._phone(request)
        body = await self._body(request)
        text = str(body.get("text", "")).strip()
        if not text:
            return web.json_response({"error": "'text' is required"}, status=400)
        try:
            utterance = await phone.say(text, language=str(body.get("language", "en")))
        except CallEnded as e:
            return web.json_response({"error": str(e)}, status=409)
        return web.json_response(
            {"queued": text, "duration_s": utterance.duration_s, "at_s": phone.elapsed_s()}
        )

    async def _dtmf(self, request: web.Request) -> web.StreamResponse:
        phone = self._phone(request)
        digits = str((await self._body(request)).get("digits", ""))
        if not digits or any(d not in DTMF_CODES for d in digits):
            return web.json_response({"error": "'digits' must be DTMF digits (0-9, *, #, A-D)"}, status=400)
        for digit in digits:
            await phone.dtmf(digit)
        return web.json_response({"sent": digits})

    async def _hang_up(self, request: web.Request) -> web.StreamResponse:
        phone = self._phone(request, answered=False)
        await phone.hang_up()
        return web.json_response({"call_id": phone.call_id, "status": phone.status})

    async def _clear(self, request: web.Request) -> web.StreamResponse:
        phone = self._phone(request)
        phone.note_clear()
        return web.json_response({"at_s": phone.elapsed_s()})

    async def _report(self, request: web.Request) -> web.StreamResponse:
        report = self._phone(request).report()
        return web.json_response(
            {**dataclasses.asdict(report), "summary": report.summary()},
            dumps=lambda o: json.dumps(o, default=str),
        )

    async def _conversation(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self._phone(request).conversation_wav(), content_type="audio/wav")
