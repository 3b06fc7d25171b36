"""The emulator's control API, for the local platform and the demo call.

It lists calls, places inbound calls, and acts as the person on the phone: speak, hang up, report what was heard,
and the whole conversation as a WAV.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from switchboard.sim.phone import MediaStreamCall
from switchboard.sim.twilio_rest.resources import PHONE_NUMBER

if TYPE_CHECKING:
    from switchboard.sim.twilio_rest.server import TwilioRestEmulator

_CALL = "/_emulator/calls/{sid}"


class ControlApi:
    """Routes under ``/_emulator``; no authentication: the emulator only ever listens on loopback."""

    def __init__(self, emulator: TwilioRestEmulator) -> None:
        self._emulator = emulator

    def add_routes(self, app: web.Application) -> None:
        """Register the control routes on the emulator's application."""
        app.router.add_get("/_emulator/calls", self._calls)
        app.router.add_post("/_emulator/inbound", self._inbound)
        app.router.add_post(_CALL + "/say", self._say)
        app.router.add_post(_CALL + "/hangup", self._hang_up)
        app.router.add_get(_CALL + "/report", self._report)
        app.router.add_get(_CALL + "/conversation.wav", self._conversation)

    async def _calls(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    **call.resource(),
                    "streams": [
                        {"url": s.url, "parameters": s.parameters, "error": s.error} for s in call.log.streams
                    ],
                    "dialed": call.log.dialed,
                    "errors": call.log.errors,
                }
                for call in self._emulator.calls.values()
            ]
        )

    async def _inbound(self, request: web.Request) -> web.Response:
        body = await _json(request)
        to, from_ = str(body.get("to", "")), str(body.get("from", ""))
        emulator = self._emulator
        if to not in emulator.numbers and body.get("voice_url"):
            emulator.add_number(
                to, str(body["voice_url"]), status_callback=str(body.get("status_callback", ""))
            )
        if to not in emulator.numbers or not PHONE_NUMBER.match(from_):
            return web.json_response({"error": "unknown 'to' number or bad 'from'"}, status=400)
        call = await emulator.place_inbound_call(from_, to)
        return web.json_response({"sid": call.sid}, status=201)

    def _phone(self, request: web.Request) -> MediaStreamCall:
        sid = request.match_info["sid"]
        call = self._emulator.calls.get(sid)
        if call is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no call {sid}"}), content_type="application/json"
            )
        if call.phone is None:
            raise web.HTTPConflict(
                text=json.dumps({"error": "no media stream on this call yet"}),
                content_type="application/json",
            )
        return call.phone

    async def _say(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        body = await _json(request)
        text = str(body.get("text", "")).strip()
        if not text:
            return web.json_response({"error": "'text' is required"}, status=400)
        utterance = await phone.say(text, language=str(body.get("language", "en")))
        return web.json_response(
            {"queued": text, "duration_s": utterance.duration_s, "at_s": phone.elapsed_s()}
        )

    async def _hang_up(self, request: web.Request) -> web.Response:
        sid = request.match_info["sid"]
        call = self._emulator.calls.get(sid)
        if call is None:
            return web.json_response({"error": f"no call {sid}"}, status=404)
        call.callee_hangs_up()
        return web.json_response({"sid": sid, "status": "hanging up"})

    async def _report(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        report = phone.report()
        return web.json_response(
            {**dataclasses.asdict(report), "summary": report.summary()},
            dumps=lambda o: json.dumps(o, default=str),
        )

    async def _conversation(self, request: web.Request) -> web.Response:
        phone = self._phone(request)
        return web.Response(body=phone.conversation_wav(), content_type="audio/wav")


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"bad JSON: {exc}"}), content_type="application/json"
        ) from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "expected a JSON object"}), content_type="application/json"
        )
    return body
