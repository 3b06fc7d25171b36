"""Simulated truck drivers for the carrier registration: a ground-truth record and how the driver behaves.

Each driver is drawn from a seed, so an evaluation is repeatable. A driver may decline, ask to be called back,
mumble a field's first answer, ask to hear a question again, or give a wrong value, say "no" to its read-back
and give the right one. `lines()` is everything the driver says, in order, as phone speech recognition renders
Mexican Spanish; it follows the flow's order (permission, each field and its read-back, the whole read-back).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Literal

from switchboard.common.flows.normalisers import read_back

FIELD_IDS = ("driver_name", "tractor_number", "tractor_plates", "trailer_number", "trailer_plates", "eta")
Habit = Literal["mumble", "repeat", "correct"]
Answer = Literal["accept", "decline", "call_back", "email"]

_FIRST = ("Juan", "María", "José", "Guadalupe", "Luis", "Rosa", "Miguel", "Ana", "Jorge", "Carmen", "Raúl")
_LAST = (
    "Pérez",
    "García",
    "Hernández",
    "López",
    "Martínez",
    "Sánchez",
    "Ramírez",
    "Torres",
    "Flores",
    "Cruz",
)
_MUMBLES = ("Este...", "Eh... mmm...", "Pues...")
_REPEATS = ("¿Mande? No le entendí.", "¿Me lo repite, por favor?", "Otra vez, por favor.")
_PERMISSION = {
    "accept": ("Sí, claro, dígame.", "Sí, adelante.", "Claro que sí."),
    "decline": ("No, ahorita no puedo, gracias.", "No, gracias."),
    "call_back": ("Ahorita voy manejando, llámame en veinte minutos.", "Llámeme en media hora, por favor."),
    "email": ("Mejor mándamelo por correo.",),
}
_YES = ("Sí.", "Sí, correcto.", "Así es.", "Correcto.")


@dataclass(frozen=True, slots=True)
class Driver:
    """One simulated driver: the truth, the answer to the permission question, and habits per field."""

    number: int
    truth: dict[str, str]
    answer: Answer
    habits: dict[str, Habit] = field(default_factory=dict)
    seed: int = 0

    @property
    def expected_outcome(self) -> str:
        """The outcome the call should end with."""
        return {
            "accept": "completed",
            "decline": "declined",
            "call_back": "call_back",
            "email": "email_requested",
        }[self.answer]

    def lines(self) -> tuple[str, ...]:
        """Everything the driver says, in order."""
        pick = random.Random(self.seed * 7919 + 1)
        said = [pick.choice(_PERMISSION[self.answer])]
        if self.answer != "accept":
            return tuple(said)
        for field_id in FIELD_IDS:
            value = self.truth[field_id]
            habit = self.habits.get(field_id)
            if habit == "repeat":
                said.append(pick.choice(_REPEATS))
            if habit == "mumble":
                said.append(pick.choice(_MUMBLES))
            if habit == "correct":
                said += [spoken(field_id, wrong_value(field_id, value)), "No, perdón, está mal."]
            said += [spoken(field_id, value), pick.choice(_YES)]
        said.append("Sí, todo bien.")
        return tuple(said)


def spoken(field_id: str, value: str) -> str:
    """How a driver says a value, as speech recognition writes it."""
    if field_id == "driver_name":
        return f"Me llamo {value}."
    if field_id in ("tractor_number", "trailer_number"):
        return f"Es el {read_back('number', value)}."
    if field_id in ("tractor_plates", "trailer_plates"):
        return f"{value[:3]} {value[3:]}."
    return f"A {read_back('time_24h', value)}."


def wrong_value(field_id: str, value: str) -> str:
    """A value one slip away from `value` (a digit or a name misspoken)."""
    if field_id == "driver_name":
        first, _, last = value.partition(" ")
        return f"{first} {next(name for name in _LAST if name != last)}"
    if field_id == "eta":
        hours, minutes = value.split(":")
        return f"{(int(hours) + 1) % 24:02d}:{minutes}"
    last = value[-1]
    return value[:-1] + ("1" if last != "1" else "2")


def draw(count: int, seed: int = 7) -> list[Driver]:
    """`count` drivers; about one in ten declines, one in ten asks for a call-back, one in twenty for e-mail."""
    rng = random.Random(seed)
    drivers = []
    for number in range(count):
        roll = rng.random()
        answer: Answer = (
            "decline" if roll < 0.1 else "call_back" if roll < 0.2 else "email" if roll < 0.25 else "accept"
        )
        truth = {
            "driver_name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            "tractor_number": str(rng.randint(10, 999)),
            "tractor_plates": _plate(rng),
            "trailer_number": str(rng.randint(10, 9999)),
            "trailer_plates": _plate(rng),
            "eta": f"{rng.randint(13, 22):02d}:{rng.choice((0, 15, 30, 45)):02d}",
        }
        habits: dict[str, Habit] = {}
        for field_id in FIELD_IDS:
            habit_roll = rng.random()
            if habit_roll < 0.12:
                habits[field_id] = "mumble"
            elif habit_roll < 0.22:
                habits[field_id] = "repeat"
            elif habit_roll < 0.34:
                habits[field_id] = "correct"
        drivers.append(Driver(number, truth, answer, habits, seed=rng.randint(0, 2**31)))
    return drivers


def _plate(rng: random.Random) -> str:
    letters = "".join(rng.choice(string.ascii_uppercase.replace("Ñ", "")) for _ in range(3))
    return f"{letters}{rng.randint(1000, 9999)}"
