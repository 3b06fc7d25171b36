"""Errors the HTTP API answers with: a status, a stable code and a message, as ``{"error": {code, message}}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from switchboard.common.errors import ErrorCategory, SwitchboardError
from switchboard.common.runtime.http_limits import BodyTooLarge, too_large_response

logger = logging.getLogger(__name__)

_STATUS_OF_CATEGORY = {
    ErrorCategory.INVALID_INPUT: 422,
    ErrorCategory.UNAUTHORIZED: 401,
    ErrorCategory.NOT_FOUND: 404,
    ErrorCategory.CONFLICT: 409,
    ErrorCategory.CAPACITY: 503,
    ErrorCategory.TIMEOUT: 504,
    ErrorCategory.UNAVAILABLE: 503,
    ErrorCategory.PROVIDER: 502,
    ErrorCategory.INTERNAL: 500,
}


class ErrorDetail(BaseModel):
    """What went wrong: `code` is stable (for programs), `message` is for people."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


class ApiProblem(SwitchboardError):
    """An error answer of the API, with its HTTP status (and headers such as Retry-After)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        category: ErrorCategory = ErrorCategory.INVALID_INPUT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, category=category, code=code)
        self.status = status
        self.headers = dict(headers or {})

    @classmethod
    def of(cls, error: SwitchboardError, status: int | None = None) -> ApiProblem:
        """The answer for a platform error, by its category unless `status` is given."""
        if isinstance(error, ApiProblem):
            return error
        return cls(
            status or _STATUS_OF_CATEGORY[error.category], error.code, error.message, category=error.category
        )

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return ErrorBody(error=ErrorDetail(code=self.code, message=self.message)).model_dump()

    def response(self) -> JSONResponse:
        """The JSON answer."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """``{"error": {"code", "message"}}`` with `status`."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: an `ApiProblem` (or any platform error) as its JSON answer."""
    assert isinstance(exc, SwitchboardError)
    status = getattr(exc, "http_status", None)
    return ApiProblem.of(exc, status if isinstance(status, int) else None).response()


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: a request that does not match its schema → 422 ``invalid_request``."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{_location(tuple(error.get('loc', ())))}: {error.get('msg', 'invalid')}" for error in exc.errors()
    ]
    return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")


async def on_body_too_large(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: a body that passed the limit while it was read → 413 ``body_too_large``."""
    assert isinstance(exc, BodyTooLarge)
    return too_large_response(exc)


async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler of last resort: logged with its traceback, answered 500 ``internal_error``."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "call-control failed to handle the request; it was logged")
