"""The emulator's own HTTP API under `/_emulator/` (not LiveKit's): steer callees, place inbound calls, look.

- `POST /_emulator/inbound {"from": "+1555…", "to": "+1555…"}` places an inbound call through the dispatch rules;
  answers `{"room", "identity", "call_id"}` (404 with a message when no trunk or rule takes the number).
- `POST /_emulator/callee {"behaviour": "answer"|"busy"|"unavailable"|"no_answer"|"fail", "number": …,
  "ring_s": …, "status": …}` sets how the next outbound call (or every call to `number`) is met.
- `GET /_emulator/calls` lists the SIP calls: room, identity, call id, status, digits received.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from switchboard.sim.livekit.sip import Callee, SipFailure

if TYPE_CHECKING:
    from switchboard.sim.livekit.server import LiveKitEmulator


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
            {"room": phone.room.name, "identity": phone.identity, "call_id": phone.call_id}
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
        return web.json_response({"calls": calls})
