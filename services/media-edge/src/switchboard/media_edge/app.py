"""The edge's HTTP face: the Twilio Media Streams WebSocket, built by a factory.

Nothing else is served on this port, which Twilio (and so anyone) reaches: `POST /drain` is on the ops port
(`drain_action`). Request bodies are refused past a few kilobytes before they are read.
"""

from __future__ import annotations

from fastapi import FastAPI, WebSocket
from fastapi.responses import PlainTextResponse

from switchboard.common.runtime.http_limits import BodyLimit
from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.session import MediaSession

STREAM_PATH = "/twilio/stream"
SIGNATURE_HEADER = "x-twilio-signature"
CLOSE_POLICY = 1008
MAX_BODY_BYTES = 4096
"""This port serves no request with a body: anything larger is refused unread."""


def create_app(edge: MediaEdge) -> FastAPI:
    """The ASGI app serving `edge`."""
    app = FastAPI(title="Switchboard media edge", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)

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

    return app
