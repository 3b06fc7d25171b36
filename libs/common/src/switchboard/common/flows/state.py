"""A call's flow state as the call record keeps it: where the flow is, and every field so far.

Written with compare-and-set on the record (`step` counts the changes), so the replica that takes over a call
carries on at the same field with the confirmed fields intact.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Phase = Literal["permission", "call_back_time", "fields", "final", "which_field", "done"]
"""permission: waiting for the answer to the greeting's question; call_back_time: a call-back was asked without
a time; fields: capturing `fields[current]`; final: the whole record was read back; which_field: the caller said
the read-back is wrong and is asked which field; done: the flow is over (see `outcome`)."""

Awaiting = Literal["answer", "confirmation"]


class FieldState(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One field: what the caller said for it, its normalised value, whether they confirmed it."""

    id: str
    raw: list[str] = msgspec.field(default_factory=list)
    """Every utterance given for the field, in order (all attempts)."""
    value: str | None = None
    """The latest value that normalised; a correction replaces it."""
    confirmed: bool = False
    attempts: int = 0
    """Answers given for the field (a repeat request is not one)."""
    reason: str = ""
    """Why the latest answer could not be used, when it could not."""


class FlowState(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where a call's flow is."""

    phase: Phase = "permission"
    current: int = 0
    """Index of the field being captured (phase `fields`)."""
    awaiting: Awaiting = "answer"
    fields: list[FieldState] = msgspec.field(default_factory=list)
    permission_raw: list[str] = msgspec.field(default_factory=list)
    outcome: str = ""
    call_back_at: str = ""
    """ISO-8601 time the callee asked to be called back at (outcome `call_back`)."""
    final_attempts: int = 0
    step: int = 0
    """How many changes were written: the compare-and-set guard between replicas."""

    def field(self, field_id: str) -> FieldState | None:
        """The state of the field with this id."""
        return next((field for field in self.fields if field.id == field_id), None)
