"""The edge's HTTP face: the Twilio Media Streams WebSocket and the drain endpoint, built by a factory."""

from __future__ import annotations

import ipaddress

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.session import MediaSession

STREAM_PATH = "/twilio/stream"
SIGNATURE_HEADER = "x-twilio-signature"
CLOSE_POLICY = 1008


class DrainReport(BaseModel):
    """What `POST /drain` found and left."""

    drained: bool
    streams_at_start: int
    closed_at_deadline: int
    streams_left: int
    waited_s: float


def create_app(edge: MediaEdge) -> FastAPI:
    """The ASGI app serving `edge`."""
    app = FastAPI(title="Switchboard media edge", docs_url=None, redoc_url=None, openapi_url=None)

    @app.websocket(STREAM_PATH)
    async def twilio_stream(websocket: WebSocket) -> None:
        refusal = edge.check_upgrade(websocket.headers.get(SIGNATURE_HEADER))
        if refusal is not None:
            response = PlainTextResponse(refusal.message + "\n", status_code=refusal.status)
            try:
                await websocket.send_denial_response(response)
            except (
                RuntimeError
            ):  # a server without the denial-response extension: a close before accept is a 403
                await websocket.close(CLOSE_POLICY)
            return
        await websocket.accept()
        await edge.serve(MediaSession(websocket, edge))

    @app.post("/drain", response_model=DrainReport)
    async def drain(request: Request) -> DrainReport | JSONResponse:
        """Readiness off, no new streams; returns when the active streams have ended or the deadline passed."""
        if edge.settings.drain_from_loopback_only and not _is_loopback(
            request.client.host if request.client else ""
        ):
            return JSONResponse({"detail": "drain is only accepted from this host"}, status_code=403)
        result = await edge.drain()
        return DrainReport(
            drained=result.drained,
            streams_at_start=result.streams_at_start,
            closed_at_deadline=result.closed_at_deadline,
            streams_left=result.streams_left,
            waited_s=round(result.waited_s, 3),
        )

    return app


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
