"""The flow's state machine: from the caller's own words to the next thing the agent says.

Pure and deterministic: the engine normalises what the caller said (never a value the model made up), refuses
what cannot be used, and answers every step with the text to say next and what the model should do after it.
It owns the order of the conversation; the model owns how it sounds.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from switchboard.common.flows.normalisers import normalise, read_back, resolve_callback_time
from switchboard.common.flows.spec import FlowField, FlowSpec
from switchboard.common.flows.state import FieldState, FlowState

NEXT_PERMISSION = "Wait for the caller's answer, then call flow_permission with their exact words."
NEXT_ANSWER = "Wait for the caller's answer, then call flow_capture with their exact words."
NEXT_CONFIRM = "Wait for the caller's answer, then call flow_confirm with their exact words."
NEXT_WAIT = "Stay silent until the caller speaks again, then call flow_permission with their exact words."
NEXT_END = "Then call end_call: the conversation is over."

MAX_FINAL_ATTEMPTS = 2
"""How many times the whole record is read back before it is saved as it stands."""


@dataclass(frozen=True, slots=True)
class Step:
    """What a flow tool answers: the text to say, then what to do; or why the call was refused."""

    say: str = ""
    next: str = ""
    error: str = ""
    changed: tuple[FieldState, ...] = ()
    """Fields that changed in this step (for `field_captured` events)."""
    state_changed: bool = True

    def result(self) -> dict[str, object]:
        """The tool result the model reads."""
        if self.error:
            return {"ok": False, "error": self.error, "say": self.say, "next": self.next}
        return {"ok": True, "say": self.say, "next": self.next}


@dataclass(slots=True)
class FlowEngine:
    """Runs one call's flow over its `state` (which it changes in place)."""

    spec: FlowSpec
    state: FlowState = field(default_factory=FlowState)

    def __post_init__(self) -> None:
        known = {f.id for f in self.state.fields}
        self.state.fields.extend(FieldState(id=f.id) for f in self.spec.fields if f.id not in known)

    @property
    def tz(self) -> ZoneInfo:
        """The callee's time zone."""
        return ZoneInfo(self.spec.timezone)

    # --- what the agent asks now -------------------------------------------------------------------------

    def current_field(self) -> tuple[FlowField, FieldState] | None:
        """The field being captured, in phase `fields`."""
        if self.state.phase != "fields" or self.state.current >= len(self.spec.fields):
            return None
        spec = self.spec.fields[self.state.current]
        return spec, self._field_state(spec.id)

    def question(self) -> Step:
        """The question the caller is expected to answer now, as a step (nothing changes)."""
        state, spec = self.state, self.spec
        if state.phase == "permission":
            return Step(spec.permission.question, NEXT_PERMISSION, state_changed=False)
        if state.phase == "call_back_time":
            return Step(spec.permission.call_back_when, NEXT_PERMISSION, state_changed=False)
        if state.phase == "final":
            return Step(self._final_read_back(), NEXT_CONFIRM, state_changed=False)
        if state.phase == "which_field":
            return Step(spec.which_field, NEXT_ANSWER, state_changed=False)
        current = self.current_field()
        if current is None:
            return Step(
                error="the flow is over: say goodbye and call end_call", next=NEXT_END, state_changed=False
            )
        field_spec, field_state = current
        if state.awaiting == "confirmation" and field_state.value is not None:
            return Step(self._read_back(field_spec, field_state.value), NEXT_CONFIRM, state_changed=False)
        return Step(field_spec.question, NEXT_ANSWER, state_changed=False)

    def repeat(self) -> Step:
        """The caller asked to hear it again: the current question, unchanged."""
        return self.question()

    # --- the tools ---------------------------------------------------------------------------------------

    def permission(self, words: str, now: datetime) -> Step:
        """The caller's answer to the permission question (or to when to call back)."""
        state, permission = self.state, self.spec.permission
        if state.phase not in ("permission", "call_back_time"):
            return self._wrong_tool("flow_permission")
        state.permission_raw.append(words)
        if self._asks_to_repeat(words):
            return self.question()
        if state.phase == "call_back_time":
            return self._call_back(words, now, asked_when=True)
        answer = normalise("permission", [words])
        if not answer.valid:
            if resolve_callback_time([words], now, self.tz).valid:  # "mejor mañana a las nueve"
                return self._call_back(words, now, asked_when=False)
            return Step(self.spec.unclear.format(question=permission.question), NEXT_PERMISSION)
        match answer.value:
            case "accept":  # a call-back starts with the fields confirmed before: they are not asked again
                state.phase, state.current, state.awaiting = "fields", self._next_open_field(0), "answer"
                if state.current >= len(self.spec.fields):
                    state.phase = "final"
                    return Step(f"{permission.accept} {self._final_read_back()}", NEXT_CONFIRM)
                return Step(f"{permission.accept} {self.spec.fields[state.current].question}", NEXT_ANSWER)
            case "decline":
                return self._finish("declined", permission.decline)
            case "email":
                return self._finish("email_requested", permission.email)
            case "whatsapp":
                return self._finish("whatsapp_requested", permission.whatsapp)
            case "call_back":
                return self._call_back(words, now, asked_when=False)
            case "wait":
                return Step(permission.wait, NEXT_WAIT)
        return Step(self.spec.unclear.format(question=permission.question), NEXT_PERMISSION)

    def capture(self, words: str, now: datetime) -> Step:
        """What the caller said in answer to the current question."""
        state = self.state
        if state.phase in ("permission", "call_back_time"):
            return self.permission(words, now)
        if state.phase == "final":
            return self.confirm(words)
        if state.phase == "which_field":
            return self._choose_field(words)
        current = self.current_field()
        if current is None:
            return self._wrong_tool("flow_capture")
        if self._asks_to_repeat(words):
            return self.question()
        field_spec, field_state = current
        field_state.attempts += 1
        field_state.raw.append(words)
        result = normalise(field_spec.type, [words])
        if result.valid and isinstance(result.value, str):
            field_state.value, field_state.confirmed, field_state.reason = result.value, False, ""
            state.awaiting = "confirmation"
            return Step(self._read_back(field_spec, result.value), NEXT_CONFIRM, changed=(field_state,))
        field_state.reason = result.reason or "unclear"
        if field_state.attempts >= field_spec.max_attempts:
            return self._move_on(field_state)
        state.awaiting = "answer"
        return Step(
            self.spec.unclear.format(question=field_spec.question), NEXT_ANSWER, changed=(field_state,)
        )

    def confirm(self, words: str) -> Step:
        """The caller's answer to a read-back: of the current field, or of the whole record."""
        state = self.state
        if state.phase == "final":
            return self._confirm_record(words)
        current = self.current_field()
        if current is None:
            return self._wrong_tool("flow_confirm")
        field_spec, field_state = current
        if state.awaiting != "confirmation" or field_state.value is None:
            return self._wrong_tool("flow_confirm")
        answer = normalise("confirmation", [words])
        if answer.valid and answer.value == "yes":
            field_state.confirmed = True
            return self._advance(changed=(field_state,))
        if answer.valid and answer.value == "no":
            field_state.raw.append(words)
            if field_state.attempts >= field_spec.max_attempts:
                return self._move_on(field_state)
            state.awaiting = "answer"
            return Step(field_spec.question, NEXT_ANSWER)
        if self._asks_to_repeat(words):
            return self.question()
        value = self._read_back(field_spec, field_state.value)
        return Step(self.spec.confirm_again.format(value=value), NEXT_CONFIRM, state_changed=False)

    # --- moving through the flow -------------------------------------------------------------------------

    def _advance(self, *, prefix: str = "", changed: tuple[FieldState, ...] = ()) -> Step:
        state = self.state
        state.awaiting = "answer"
        state.current = self._next_open_field(state.current + 1)
        lead = f"{prefix} " if prefix else ""
        if state.current < len(self.spec.fields):
            return Step(f"{lead}{self.spec.fields[state.current].question}", NEXT_ANSWER, changed=changed)
        state.phase = "final"
        return Step(f"{lead}{self._final_read_back()}", NEXT_CONFIRM, changed=changed)

    def _next_open_field(self, start: int) -> int:
        """The next field from `start` that is not confirmed yet (after a correction, the others are kept)."""
        for index in range(start, len(self.spec.fields)):
            if not self._field_state(self.spec.fields[index].id).confirmed:
                return index
        return len(self.spec.fields)

    def _move_on(self, field_state: FieldState) -> Step:
        """Out of attempts: keep what there is, unconfirmed, and go on."""
        field_state.confirmed = False
        return self._advance(prefix=self.spec.moved_on, changed=(field_state,))

    def _confirm_record(self, words: str) -> Step:
        state = self.state
        answer = normalise("confirmation", [words])
        if answer.valid and answer.value == "yes":
            return self._finish("completed", self.spec.completed)
        if answer.valid and answer.value == "no":
            state.final_attempts += 1
            if state.final_attempts >= MAX_FINAL_ATTEMPTS:
                return self._finish("completed", self.spec.completed)
            state.phase = "which_field"
            return Step(self.spec.which_field, NEXT_ANSWER)
        if self._asks_to_repeat(words):
            return self.question()
        return Step(self.spec.confirm_again.format(value=self._summary()), NEXT_CONFIRM, state_changed=False)

    def _choose_field(self, words: str) -> Step:
        """The caller named the field to correct: ask it again, the other fields stay as they are."""
        chosen = field_named(self.spec, words)
        if chosen is None:
            return Step(self.spec.which_field, NEXT_ANSWER, state_changed=False)
        state = self.state
        index = next(i for i, f in enumerate(self.spec.fields) if f.id == chosen.id)
        field_state = self._field_state(chosen.id)
        field_state.confirmed, field_state.attempts = False, 0
        state.phase, state.current, state.awaiting = "fields", index, "answer"
        return Step(chosen.question, NEXT_ANSWER, changed=(field_state,))

    def _call_back(self, words: str, now: datetime, *, asked_when: bool) -> Step:
        utterances = [words] if not asked_when else [*self.state.permission_raw[-2:]]
        resolved = resolve_callback_time(utterances, now, self.tz)
        if not resolved.valid or not isinstance(resolved.value, str):
            self.state.phase = "call_back_time"
            return Step(self.spec.permission.call_back_when, NEXT_PERMISSION)
        self.state.call_back_at = resolved.value
        local = datetime.fromisoformat(resolved.value).astimezone(self.tz)
        spoken = f"a {read_back('time_24h', local.strftime('%H:%M'))}"  # "a las catorce treinta"
        days = (local.date() - now.astimezone(self.tz).date()).days
        if days == 1:
            spoken = f"mañana {spoken}"
        elif days > 1:
            spoken = f"el día {local.day} {spoken}"
        return self._finish("call_back", self.spec.permission.call_back.format(time=spoken))

    def _finish(self, outcome: str, say: str) -> Step:
        self.state.phase, self.state.outcome = "done", outcome
        return Step(say, NEXT_END)

    def _wrong_tool(self, tool: str) -> Step:
        expected = self.question()
        return Step(
            say=expected.say,
            next=expected.next,
            error=f"{tool} does not fit now. {expected.next}",
            state_changed=False,
        )

    # --- texts -------------------------------------------------------------------------------------------

    def _read_back(self, field_spec: FlowField, value: str) -> str:
        template = field_spec.read_back or self.spec.read_back
        text = template.format(value=read_back(field_spec.type, value))
        return text[:1].upper() + text[1:]

    def _summary(self) -> str:
        parts = []
        for field_spec in self.spec.fields:
            value = self._field_state(field_spec.id).value
            parts.append(f"{field_spec.label}: {read_back(field_spec.type, value) if value else '—'}")
        return "; ".join(parts)

    def _final_read_back(self) -> str:
        return self.spec.final_read_back.format(summary=self._summary())

    def _field_state(self, field_id: str) -> FieldState:
        found = self.state.field(field_id)
        if found is None:
            found = FieldState(id=field_id)
            self.state.fields.append(found)
        return found

    @staticmethod
    def _asks_to_repeat(words: str) -> bool:
        result = normalise("repeat_request", [words])
        return result.valid and result.value is True


def field_named(spec: FlowSpec, words: str) -> FlowField | None:
    """The field whose label the caller's words contain most of (None when no label word is there)."""
    said = set(_words(words))
    best: tuple[int, FlowField] | None = None
    for field_spec in spec.fields:
        label = _words(field_spec.label)
        # the label's distinguishing words count twice (e.g. "tráiler" against "tractor")
        score = sum(2 if word not in _COMMON else 1 for word in label if word in said)
        if score and (best is None or score > best[0]):
            best = (score, field_spec)
    return best[1] if best else None


_COMMON = frozenset({"de", "del", "la", "el", "las", "los", "numero", "placas", "hora"})


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return [word for word in "".join(ch if ch.isalnum() else " " for ch in plain).split() if word]


def copy_state(state: FlowState) -> FlowState:
    """A deep copy of a flow state (the engine changes its state in place)."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=FlowState)
