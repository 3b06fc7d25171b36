"""The normaliser corpus: utterances as phone speech recognition writes Mexican Spanish, with expected values.

One JSON line per case in corpus/<field>.jsonl: {"field", "utterances", "expect", "known_gap"?}. `expect`
null means the normaliser must refuse. A `known_gap` names a case a person gets right and the normaliser does
not: the bench counts it as wrong, and here it is a strict xfail (fixing it fails until the mark is removed).
The lines are also valid input for `switchboard-flow normalise --batch`.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from switchboard.common.flows.normalisers import FIELD_TYPES, normalise

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True, slots=True)
class Case:
    field: str
    utterances: list[str]
    expect: str | bool | None
    known_gap: str
    where: str


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                row = json.loads(line)
                where = f"{path.stem}:{number}"
                cases.append(
                    Case(row["field"], row["utterances"], row["expect"], row.get("known_gap", ""), where)
                )
    return cases


CASES = load_cases()


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(reason=case.known_gap, strict=True)] if case.known_gap else []
    return pytest.param(case, id=case.where, marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_corpus_case(case: Case) -> None:
    result = normalise(case.field, case.utterances)  # type: ignore[arg-type]  # field names are checked below
    if case.expect is None:
        assert (result.valid, result.value) == (False, None), (
            f"{case.utterances}: expected a refusal, got {result}"
        )
        assert result.reason
    else:
        assert (result.valid, result.value) == (True, case.expect), f"{case.utterances}: {result}"


def test_the_corpus_covers_every_field_type_with_values_and_refusals() -> None:
    assert {case.field for case in CASES} == set(FIELD_TYPES)
    for field in FIELD_TYPES:
        of_field = [case for case in CASES if case.field == field]
        assert any(case.expect is None for case in of_field), field
        assert sum(case.expect is not None for case in of_field) >= 20, field
    assert len(CASES) >= 400
