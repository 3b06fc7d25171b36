"""What call-control reads from Twilio's webhooks, parsed strictly: ASCII digits within bounds, short strings.

A signed webhook is still input from the network: a number is only a number when it is ASCII digits below its
bound (`"²".isdigit()` is true and `int("²")` raises), and every string kept on a record has a length limit.
Anything else raises `MalformedWebhook`, which the router answers with 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from switchboard.common.calls.record import CallStatus

MAX_SEQUENCE = 1_000_000
"""Status callbacks of one call are numbered from 0; a handful per call, never millions."""
MAX_DURATION_S = 7 * 24 * 3600
"""Longer than any call Twilio places (its limit is 24 hours)."""
MAX_ADDRESS_LENGTH = 256
"""`From`/`To`: E.164 numbers, `client:…` identities or SIP URIs."""

_ANSWERED_BY = re.compile(r"[a-z_]{1,32}")
_PRINTABLE = re.compile(r"[\x21-\x7e]*")


class MalformedWebhook(ValueError):
    """A webhook parameter that is not what Twilio sends; the message names it."""


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One status callback, parsed."""

    status: CallStatus
    provider_status: str
    sequence: int
    answered_by: str
    duration_s: int | None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> StatusReport | None:
        """The report in a callback's parameters; None when it carries no status this service knows.

        Raises `MalformedWebhook` for a `SequenceNumber` or `CallDuration` that is not a bounded ASCII number,
        or an `AnsweredBy` that is not a short lower-case word (Twilio's values: `human`, `machine_start`…).
        """
        sequence = whole_number(params, "SequenceNumber", MAX_SEQUENCE)
        duration = whole_number(params, "CallDuration", MAX_DURATION_S)
        answered_by = params.get("AnsweredBy", "")
        if answered_by and not _ANSWERED_BY.fullmatch(answered_by):
            raise MalformedWebhook(f"AnsweredBy is not one of Twilio's values ({answered_by[:40]!r})")
        provider_status = params.get("CallStatus", "")
        try:
            status = CallStatus(provider_status)
        except ValueError:
            return None
        return cls(
            status=status,
            provider_status=provider_status,
            sequence=-1 if sequence is None else sequence,
            answered_by=answered_by,
            duration_s=duration,
        )


@dataclass(frozen=True, slots=True)
class InboundCall:
    """The voice webhook of a call to one of our numbers."""

    call_sid: str
    to: str
    from_: str
    provider_status: str

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> InboundCall:
        """The call's addresses, bounded and printable ASCII; raises `MalformedWebhook` otherwise."""
        return cls(
            call_sid=params.get("CallSid", ""),
            to=address(params, "To"),
            from_=address(params, "From"),
            provider_status=params.get("CallStatus", "")[:32],
        )


def whole_number(params: Mapping[str, str], name: str, maximum: int) -> int | None:
    """The parameter as an int, None when absent or empty; raises unless ASCII digits up to `maximum`."""
    raw = params.get(name, "")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)) or int(raw) > maximum:
        raise MalformedWebhook(f"{name} is not a whole number up to {maximum} ({raw[:40]!r})")
    return int(raw)


def address(params: Mapping[str, str], name: str) -> str:
    """A `From`/`To` value: printable ASCII without spaces, at most `MAX_ADDRESS_LENGTH` characters."""
    raw = params.get(name, "")
    if len(raw) > MAX_ADDRESS_LENGTH or not _PRINTABLE.fullmatch(raw):
        raise MalformedWebhook(f"{name} is not an address Twilio sends ({raw[:40]!r})")
    return raw
