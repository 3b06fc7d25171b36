"""The FastAPI app of call-control, built from a running `CallControl` (nothing happens at import)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from switchboard.call_control.access import AccessGuard, RequestMetrics
from switchboard.call_control.api import calls_router
from switchboard.call_control.console import (
    SIGN_IN_NEEDED,
    ConsoleSettings,
    console_router,
    on_sign_in_needed,
)
from switchboard.call_control.docs import add_docs
from switchboard.call_control.livekit_webhooks import livekit_router
from switchboard.call_control.problems import (
    on_api_problem,
    on_body_too_large,
    on_unexpected_error,
    on_validation_error,
)
from switchboard.call_control.recordings_api import recordings_router
from switchboard.call_control.runtime import CallControl
from switchboard.call_control.webhooks import twilio_router
from switchboard.common.errors import SwitchboardError
from switchboard.common.runtime.http_limits import BodyLimit, BodyTooLarge

DESCRIPTION = """\
Place AI-agent phone calls and follow them.

Authenticate with `Authorization: Bearer <API key>` (or `X-API-Key`). `POST /v1/calls` takes an
`Idempotency-Key` header: retrying with the same key and body returns the same call. Errors are
`{"error": {"code": "...", "message": "..."}}` with a stable `code`.
"""


def create_app(control: CallControl) -> FastAPI:
    """The HTTP app: `/v1/calls…`, the Twilio webhooks, and the docs at `/docs`."""
    app = FastAPI(
        title="Switchboard call-control", version="1", description=DESCRIPTION, docs_url=None, redoc_url=None
    )
    add_docs(app)
    app.add_exception_handler(SwitchboardError, on_api_problem)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(BodyTooLarge, on_body_too_large)
    app.add_exception_handler(Exception, on_unexpected_error)
    routers = [
        calls_router(control.service, control.idempotency, control.webhooks),
        twilio_router(control.service, control.tracker, control.signatures),
    ]
    if control.recordings is not None:
        routers.append(recordings_router(control.service, control.recordings))
    if control.profiles is not None:
        routers.append(
            console_router(
                control.service,
                control.keys,
                control.profiles,
                sorted(control.profile_revisions),
                control.recordings,
                ConsoleSettings(secure_cookie=control.settings.console_secure_cookie),
                control.auth_failures,
            )
        )
        app.add_exception_handler(SIGN_IN_NEEDED, on_sign_in_needed)
    if control.livekit is not None and control.livekit_webhooks is not None:
        routers.append(
            livekit_router(control.service, control.livekit, control.livekit_webhooks, control.metrics)
        )
    for router in routers:
        app.include_router(router)
    # The routes as declared (their paths are the templates): an included router is matched as a whole, so a
    # request answered before routing (a 401, a 429) is matched here against each route of its own.
    routes = [*app.routes, *(route for router in routers for route in router.routes)]
    app.add_middleware(
        AccessGuard,
        keys=control.keys,
        limiter=control.limiter,
        failures=control.auth_failures,
        metrics=control.metrics,
    )
    app.add_middleware(BodyLimit, max_bytes=control.settings.max_body_bytes)  # before any route reads a body
    app.add_middleware(RequestMetrics, routes=routes, metrics=control.metrics)  # outermost: sees every answer
    return app
