"""The JSON the emulator answers with: Twilio's Call resource and its error bodies, as the SDK parses them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

API_VERSION = "2010-04-01"
PHONE_NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")
"""An E.164 number, as Twilio accepts it."""
ERROR_DOCS = "https://www.twilio.com/docs/errors/"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


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


@dataclass(frozen=True, slots=True)
class PageQuery:
    """Which page of a list a request asks for: `PageSize` (1–1000, default 50), `Page`, `PageToken`.

    Twilio pages by token: `PageToken=PA<sid>` continues after the record `<sid>`, `PB<sid>` ends before it;
    `Page` is the page's number, as reported back. Without a token, `Page` alone selects records by offset.
    """

    page_size: int = DEFAULT_PAGE_SIZE
    page: int = 0
    token: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> PageQuery:
        """Read the paging parameters; raises `ValueError` with the message Twilio's 400 would carry."""
        page_size = _whole(query.get("PageSize", str(DEFAULT_PAGE_SIZE)), "PageSize")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
        page = _whole(query.get("Page", "0"), "Page")
        token = query.get("PageToken")
        if token is not None and (len(token) < 3 or not token.startswith(("PA", "PB"))):
            raise ValueError(f"Invalid PageToken: {token}")
        return cls(page_size=page_size, page=page, token=token)


def _whole(value: str, name: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise ValueError(f"{name} must be a whole number")
    return int(value)


def calls_page(
    account_sid: str,
    calls: list[dict[str, Any]],
    query: PageQuery,
    *,
    filters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One page of the Calls list (newest first), with the URIs `list()`/`stream()` follow to the next one."""
    sids = [call["sid"] for call in calls]
    if query.token is not None and query.token.startswith("PA"):
        start = sids.index(query.token[2:]) + 1 if query.token[2:] in sids else len(calls)
    elif query.token is not None:
        start = max(0, (sids.index(query.token[2:]) if query.token[2:] in sids else 0) - query.page_size)
    else:
        start = query.page * query.page_size
    records = calls[start : start + query.page_size]
    path = f"{account_uri(account_sid)}/Calls.json"

    def uri(page: int, token: str | None = None) -> str:
        params = [*(filters or {}).items(), ("PageSize", str(query.page_size)), ("Page", str(page))]
        if token is not None:
            params.append(("PageToken", token))
        return f"{path}?{urlencode(params)}"

    more = start + len(records) < len(calls)
    return {
        "calls": records,
        "end": start + max(0, len(records) - 1),
        "first_page_uri": uri(0),
        "next_page_uri": uri(query.page + 1, f"PA{records[-1]['sid']}") if more and records else None,
        "page": query.page,
        "page_size": query.page_size,
        "previous_page_uri": uri(query.page - 1, f"PB{records[0]['sid']}")
        if query.page > 0 and records
        else None,
        "start": start,
        "uri": uri(query.page, query.token),
    }
