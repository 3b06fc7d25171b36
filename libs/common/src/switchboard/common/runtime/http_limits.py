"""Request body limits for the services' HTTP apps: 413 before the body is read, whatever its framing.

A declared `Content-Length` over the limit is answered 413 before the app runs, so nothing of the body is read.
A body without one (chunked) is counted as it is received: the read that passes the limit raises
`BodyTooLarge` (an `HTTPException`, so FastAPI's body parsing lets it through to the app's handler for it), and
if the app did not answer yet, this middleware answers 413. Either way at most `max_bytes` (plus one chunk)
are ever held.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_TOO_LARGE = "body_too_large"


class BodyTooLarge(HTTPException):
    """A request body over the limit (HTTP 413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=f"the request body is larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


def too_large_response(error: BodyTooLarge) -> JSONResponse:
    """`{"error": {"code": "body_too_large", "message"}}` with 413."""
    return JSONResponse({"error": {"code": BODY_TOO_LARGE, "message": error.detail}}, status_code=413)


class BodyLimit:
    """ASGI middleware refusing HTTP request bodies over `max_bytes` with 413 (WebSockets pass through)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await too_large_response(BodyTooLarge(self.max_bytes))(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge as error:
            if started:
                raise
            await too_large_response(error)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; an unreadable or huge one counts as too large (it cannot be honest)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not (text.isascii() and text.isdigit()) or len(text) > 15:
                return 1 << 62
            return int(text)
    return None
