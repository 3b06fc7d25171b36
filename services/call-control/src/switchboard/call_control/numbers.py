"""Toll-fraud checks on the numbers call-control dials: strict E.164, a country allow-list, safe number types."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from switchboard.call_control.problems import ApiProblem
from switchboard.common.calls.numbers import is_e164

ALLOWED_TYPES = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.TOLL_FREE,
        PhoneNumberType.VOIP,
    }
)
"""Number types a call may go to; premium-rate, shared-cost, personal, pager, UAN, voicemail and unknown
numbers are the classic routes of toll fraud and are refused."""

_TYPE_NAMES = {value: name.lower() for name, value in vars(PhoneNumberType).items() if name.isupper()}


@dataclass(frozen=True, slots=True)
class NumberPolicy:
    """Which destinations may be dialed."""

    allowed_countries: frozenset[str]

    def destination(self, number: str, field: str = "to") -> str:
        """`number` if a call may go there; raises `ApiProblem` 422 with a code saying why not."""
        parsed = self._parse(number, field)
        region = phonenumbers.region_code_for_number(parsed) or "unknown"
        if region not in self.allowed_countries:
            raise _refused(
                "country_not_allowed",
                f"{field}: calls to {region} are not allowed (allowed: {', '.join(sorted(self.allowed_countries))})",
            )
        kind = phonenumbers.number_type(parsed)
        if kind == PhoneNumberType.PREMIUM_RATE:
            raise _refused("premium_rate_number", f"{field}: {number} is a premium-rate number")
        if kind == PhoneNumberType.SHARED_COST:
            raise _refused("shared_cost_number", f"{field}: {number} is a shared-cost number")
        if kind not in ALLOWED_TYPES:
            raise _refused(
                "number_type_not_allowed",
                f"{field}: {number} is of type {_TYPE_NAMES.get(kind, 'unknown')}, which may not be dialed",
            )
        return number

    def warm_up(self) -> None:
        """Load the numbering metadata of every allowed country now (phonenumbers loads it on first use)."""
        for region in sorted(self.allowed_countries):
            example = phonenumbers.example_number(region)
            if example is not None:
                phonenumbers.number_type(example)

    def caller_id(self, number: str, field: str = "from") -> str:
        """`number` if it could be dialed: a caller ID passes the same checks as a destination.

        Twilio checks that the account owns the number; a premium-rate or shared-cost caller ID, or one in a
        country calls may not go to, is refused here first (call-back fraud goes through the caller ID).
        """
        return self.destination(number, field)

    @staticmethod
    def _parse(number: str, field: str) -> phonenumbers.PhoneNumber:
        if not is_e164(number):
            raise _refused(
                "invalid_number", f"{field}: {number!r} is not an E.164 number such as +14155550100"
            )
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException as e:
            raise _refused("invalid_number", f"{field}: {number!r} is not a phone number ({e})") from e
        if not phonenumbers.is_valid_number(parsed):
            raise _refused("invalid_number", f"{field}: {number} is not a valid phone number")
        return parsed


def _refused(code: str, message: str) -> ApiProblem:
    return ApiProblem(422, code, message)
