"""Structured JSON logs, with the call id bound through a context variable."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("switchboard_call_id", default=None)

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


@contextlib.contextmanager
def bound_call(call_id: str) -> Iterator[None]:
    """Every log record written inside (and in tasks created inside) carries `call_id`."""
    token = _call_id.set(call_id)
    try:
        yield
    finally:
        _call_id.reset(token)


def bind_call(call_id: str) -> None:
    """Bind `call_id` for the rest of the current task."""
    _call_id.set(call_id)


# JSON escapes control characters below U+0020 itself; these line breaks it keeps raw with ensure_ascii=False,
# and line-based readers (Python's splitlines, JavaScript, many log shippers) split a record on them.
_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the bound call id and any `extra` fields.

    Whatever a message holds (user input included), the record stays one line: every character that any
    common reader takes for a line break is escaped.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{record.msecs:03.0f}Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None) or _call_id.get()
        if call_id:
            entry["call_id"] = call_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False).translate(_LINE_BREAKS)


class ConsoleFormatter(logging.Formatter):
    """A readable line for the local platform: time, service, level, call id, message."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as one readable line."""
        call_id = getattr(record, "call_id", None) or _call_id.get()
        when = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{record.msecs:03.0f}"
        text = f"{when} {self._service:<13} {record.levelname:<7} {('[' + call_id + '] ') if call_id else ''}"
        text += record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Send the root logger's records to stderr as JSON (or readable lines with ``fmt="console"``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ConsoleFormatter(service) if fmt == "console" else JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("nats", "websockets", "uvicorn.access", "httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class EveryNth:
    """Lets the 1st, then every `n`th occurrence through: for warnings that bad input could flood."""

    __slots__ = ("count", "n")

    def __init__(self, n: int = 100) -> None:
        self.n = n
        self.count = 0

    def __call__(self) -> bool:
        """Whether this occurrence should be logged."""
        self.count += 1
        return self.count == 1 or self.count % self.n == 0
