import subprocess
import sys

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from switchboard.call_control.numbers import NumberPolicy
from switchboard.call_control.problems import ApiProblem

pytestmark = pytest.mark.unit

POLICY = NumberPolicy(frozenset({"US", "CA", "MX", "GB"}))


def example(region: str, kind: int) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize(
    "number",
    ["+14155550100", "+18005550199", example("MX", PhoneNumberType.MOBILE), "+442071838750", "+15062345678"],
)
def test_ordinary_numbers_of_allowed_countries_pass(number: str) -> None:
    assert POLICY.destination(number) == number


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4155550100", "invalid_number"),
        ("+1 415 555 0100", "invalid_number"),
        ("+1415555010", "invalid_number"),
        ("+10005550100", "invalid_number"),
        ("+33612345678", "country_not_allowed"),
        ("+18765550100", "country_not_allowed"),  # Jamaica shares +1 with the US: a classic fraud route
        ("+19002345678", "premium_rate_number"),
        ("+449098765432", "premium_rate_number"),
        (example("MX", PhoneNumberType.SHARED_COST), "shared_cost_number"),
        (example("GB", PhoneNumberType.PERSONAL_NUMBER), "number_type_not_allowed"),
        (example("GB", PhoneNumberType.UAN), "number_type_not_allowed"),
    ],
)
def test_refused_numbers_say_why(number: str, code: str) -> None:
    with pytest.raises(ApiProblem) as refused:
        POLICY.destination(number)
    assert (refused.value.status, refused.value.code) == (422, code)
    assert refused.value.message.startswith("to: ")


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("+1555", "invalid_number"),
        ("+14155550100\n", "invalid_number"),
        ("+33612345678", "country_not_allowed"),
        ("+19002345678", "premium_rate_number"),
    ],
)
def test_caller_ids_are_checked_like_destinations(number: str, code: str) -> None:
    with pytest.raises(ApiProblem, match="from: ") as refused:
        POLICY.caller_id(number)
    assert refused.value.code == code


def test_a_valid_caller_id_passes() -> None:
    assert POLICY.caller_id("+14155550100") == "+14155550100"


def test_after_warm_up_checking_a_number_loads_nothing_more() -> None:
    code = """
import sys
from switchboard.call_control.numbers import NumberPolicy
numbers = NumberPolicy(frozenset({"US", "MX"}))
numbers.warm_up()
before = set(sys.modules)
numbers.destination("+14155550123")
numbers.destination("+525512345678")
print(sorted(set(sys.modules) - before))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
