"""Phone numbers that come from outside, checked by full match in ASCII.

Patterns use `[0-9]`, never the `d` class (which also matches other scripts' digits, such as `３`), and match
the whole string: Python's `re.fullmatch`, or pydantic's Rust regex, where `$` never matches before a
trailing newline.
"""

from __future__ import annotations

import re

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
"""An E.164 number: `+`, a country code not starting with 0, at most 15 digits in all."""

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def is_e164(value: str) -> bool:
    """Whether `value` is an E.164 number, exactly (no whitespace, no trailing newline, ASCII digits only)."""
    return _E164.fullmatch(value) is not None
