"""Errors that say whether trying again can help."""

from __future__ import annotations

from enum import StrEnum


class ErrorCategory(StrEnum):
    """What kind of failure an error is; decides retries and how it is reported."""

    INVALID_INPUT = "invalid_input"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    CAPACITY = "capacity"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    PROVIDER = "provider"
    INTERNAL = "internal"


_RETRYABLE = frozenset({ErrorCategory.CAPACITY, ErrorCategory.TIMEOUT, ErrorCategory.UNAVAILABLE})


class SwitchboardError(Exception):
    """Base error: a category, a stable code, and whether a retry can help."""

    def __init__(
        self, message: str, *, category: ErrorCategory, code: str = "", retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.category = category
        self.code = code or category.value
        self.retryable = category in _RETRYABLE if retryable is None else retryable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, retryable={self.retryable})"


class DecodeError(SwitchboardError):
    """A message from the bus could not be decoded; never retryable."""

    def __init__(self, message: str, *, code: str = "malformed") -> None:
        super().__init__(message, category=ErrorCategory.INVALID_INPUT, code=code, retryable=False)


class AttachError(SwitchboardError):
    """No replica took a call."""


class ConfigError(SwitchboardError):
    """A setting or a profile is missing or wrong; fixing the configuration is the only remedy."""

    def __init__(self, message: str, *, code: str = "config") -> None:
        super().__init__(message, category=ErrorCategory.INVALID_INPUT, code=code, retryable=False)
