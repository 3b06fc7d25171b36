"""The JSON the emulator answers with: Twilio's Call resource and its error bodies, as the SDK parses them."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

API_VERSION = "2010-04-01"
PHONE_NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")
"""An E.164 number, as Twilio accepts it."""
ERROR_DOCS = "https://www.twilio.com/docs/errors/"


def new_sid(prefix: str) -> str:
    """A SID shaped like Twilio's: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None) -> str | None:
    """A date as the 2010-04-01 API writes it (``Tue, 31 Aug 2010 20:36:28 +0000``)."""
    if moment is None:
        return None
    return format_datetime(moment.astimezone(UTC)).replace("-0000", "+0000")


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error answer of the REST API: HTTP status, Twilio error code, message."""

    status: int
    code: int
    message: str

    def body(self) -> dict[str, Any]:
        """The JSON body Twilio sends (`TwilioRestException` reads `code`, `message`, `more_info`)."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"{ERROR_DOCS}{self.code}",
            "status": self.status,
        }


def authenticate_error() -> ApiError:
    """Wrong or missing credentials."""
    return ApiError(401, 20003, "Authenticate")


def not_found_error(path: str) -> ApiError:
    """An unknown resource."""
    return ApiError(404, 20404, f"The requested resource {path} was not found")


def account_uri(account_sid: str) -> str:
    """The path of an account resource."""
    return f"/{API_VERSION}/Accounts/{account_sid}"


def call_uri(account_sid: str, call_sid: str) -> str:
    """The path of a call resource (with its `.json` suffix)."""
    return f"{account_uri(account_sid)}/Calls/{call_sid}.json"


def formatted(number: str) -> str:
    """A North American number as ``(415) 555-0100``; anything else as given."""
    if number.startswith("+1") and len(number) == 12 and number[1:].isdigit():
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def calls_page(account_sid: str, calls: list[dict[str, Any]], page_size: int) -> dict[str, Any]:
    """One page of the Calls list, as `calls.list()` reads it."""
    uri = f"{account_uri(account_sid)}/Calls.json?PageSize={page_size}&Page=0"
    return {
        "calls": calls,
        "end": max(0, len(calls) - 1),
        "first_page_uri": uri,
        "next_page_uri": None,
        "page": 0,
        "page_size": page_size,
        "previous_page_uri": None,
        "start": 0,
        "uri": uri,
    }
