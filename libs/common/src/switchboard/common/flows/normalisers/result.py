"""The answer every normaliser gives: a value, or a refusal with the reason the agent should ask again."""

from dataclasses import dataclass
from typing import Literal

FieldType = Literal[
    "person_name", "number", "mx_plate", "time_24h", "email", "confirmation", "permission", "repeat_request"
]


@dataclass(frozen=True, slots=True)
class Normalised:
    """A normalised value, or a refusal (value None, valid False) saying why."""

    value: str | bool | None
    valid: bool
    reason: str = ""

    @classmethod
    def ok(cls, value: str | bool, note: str = "") -> "Normalised":
        """A value the caller clearly gave."""
        return cls(value=value, valid=True, reason=note)

    @classmethod
    def refuse(cls, reason: str) -> "Normalised":
        """Nothing clear enough to keep: the agent asks again."""
        return cls(value=None, valid=False, reason=reason)

    def as_json(self) -> dict[str, str | bool | None]:
        """The command's output object."""
        return {"value": self.value, "valid": self.valid, "reason": self.reason}
