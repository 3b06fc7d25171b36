"""How a simulated call fails."""

from __future__ import annotations

from switchboard.common.errors import ErrorCategory, SwitchboardError


class CallRejected(SwitchboardError):
    """The media server refused the WebSocket upgrade (Twilio reports error 31920)."""

    def __init__(self, status: int, body: str) -> None:
        if status in (401, 403):
            category = ErrorCategory.UNAUTHORIZED
        elif status >= 500:
            category = ErrorCategory.UNAVAILABLE
        else:
            category = ErrorCategory.INVALID_INPUT
        super().__init__(
            f"upgrade refused with HTTP {status}: {body[:200]}", category=category, code="rejected"
        )
        self.status = status


class CallEnded(SwitchboardError):
    """The call ended while something was still being waited for or queued."""

    def __init__(self, message: str) -> None:
        super().__init__(message, category=ErrorCategory.CONFLICT, code="call_ended", retryable=False)


class PhoneFailure(SwitchboardError):
    """One of the call's own tasks failed: the call did not behave like Twilio."""

    def __init__(self, message: str) -> None:
        super().__init__(message, category=ErrorCategory.INTERNAL, code="phone_failure", retryable=False)
