"""The `flow:` section of a profile: the permission question, the fields to capture in order, the closing.

Every text is what the agent says, in the profile's language. Templates use ``{value}`` (a field's read-back),
``{question}`` (the question being asked again), ``{time}`` (a call-back time as spoken) and ``{summary}`` (every
field's read-back, in order).
"""

from __future__ import annotations

import zoneinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FieldType = Literal["person_name", "number", "mx_plate", "time_24h", "email"]
"""The normaliser types a captured field may have (the others answer questions about the conversation)."""

Outcome = Literal["completed", "declined", "call_back", "email_requested", "whatsapp_requested", "incomplete"]
"""How a call with a flow ended, as far as the flow is concerned."""

_FIELD_ID = r"^[a-z][a-z0-9_]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FlowField(_Strict):
    """One field to capture: asked, normalised, read back, confirmed."""

    id: str = Field(pattern=_FIELD_ID)
    label: str = Field(min_length=1, description="The field as spoken, e.g. 'placas del tractor'")
    type: FieldType
    question: str = Field(min_length=1)
    read_back: str = Field(default="", description="Template with {value}; the flow's `read_back` when empty")
    max_attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("read_back")
    @classmethod
    def _has_value(cls, template: str) -> str:
        if template and "{value}" not in template:
            raise ValueError("a read_back template must contain {value}")
        return template


class Permission(_Strict):
    """The question the greeting ends with, and what the agent says to each kind of answer."""

    question: str = Field(min_length=1, description="Asked again when the answer is unclear")
    accept: str = Field(min_length=1, description="Said before the first field's question")
    decline: str = Field(min_length=1)
    email: str = Field(min_length=1)
    whatsapp: str = Field(min_length=1)
    call_back: str = Field(
        min_length=1, description="Template with {time}: 'a las nueve', 'mañana a las nueve'"
    )
    call_back_when: str = Field(min_length=1, description="Asked when a call-back request names no time")
    wait: str = Field(min_length=1)

    @field_validator("call_back")
    @classmethod
    def _has_time(cls, template: str) -> str:
        if "{time}" not in template:
            raise ValueError("the call_back text must contain {time}")
        return template


class FlowSpec(_Strict):
    """A conversation flow: permission, then each field in order, then one read-back of the whole record."""

    timezone: str = Field(
        default="UTC", description="The callee's time zone (call-back times are resolved in it)"
    )
    permission: Permission
    fields: tuple[FlowField, ...] = Field(min_length=1)
    read_back: str = Field(
        default="{value}, ¿es correcto?", description="Default field read-back, with {value}"
    )
    unclear: str = Field(
        min_length=1, description="Said when an answer cannot be used; template with {question}"
    )
    confirm_again: str = Field(
        min_length=1, description="Said when a yes/no is unclear; template with {value}"
    )
    moved_on: str = Field(min_length=1, description="Said when a field ran out of attempts, before the next")
    final_read_back: str = Field(min_length=1, description="Template with {summary}")
    which_field: str = Field(min_length=1, description="Asked when the whole read-back is wrong")
    completed: str = Field(
        min_length=1, description="Said once the record is confirmed, before ending the call"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name

    @field_validator("read_back")
    @classmethod
    def _read_back_has_value(cls, template: str) -> str:
        if "{value}" not in template:
            raise ValueError("read_back must contain {value}")
        return template

    @field_validator("final_read_back")
    @classmethod
    def _has_summary(cls, template: str) -> str:
        if "{summary}" not in template:
            raise ValueError("final_read_back must contain {summary}")
        return template

    @model_validator(mode="after")
    def _unique_ids(self) -> FlowSpec:
        seen: set[str] = set()
        for field in self.fields:
            if field.id in seen:
                raise ValueError(f"field id {field.id!r} is used twice")
            seen.add(field.id)
        return self

    def field(self, field_id: str) -> FlowField | None:
        """The field with this id."""
        return next((field for field in self.fields if field.id == field_id), None)
