"""Per-type accuracy of the Mexican-Spanish normalisers on the test corpus (libs/common/tests/flows/corpus).

A case is right when the normaliser gives the expected value, or refuses when a refusal is expected. Per type:
cases, accuracy, values right, refusals right, wrong values given (the costly error: a value the caller did
not say, which only the read-back can catch), and the accuracy on the held-out cases (`"set": "held_out"`:
written after the normalisers, never tuned on). Cases marked `known_gap` count as wrong.

    uv run python libs/common/bench/bench_normalisers.py [--show-wrong]
"""

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from switchboard.common.flows.normalisers import FIELD_TYPES, normalise

CORPUS = Path(__file__).parents[1] / "tests" / "flows" / "corpus"
TARGET_ACCURACY = 0.95
TARGET_WRONG_VALUES = 0.02


def main() -> None:
    parser = argparse.ArgumentParser(description="Per-type accuracy of the normalisers on the corpus.")
    parser.add_argument("--show-wrong", action="store_true", help="list every case the normaliser gets wrong")
    args = parser.parse_args()
    rows = [
        json.loads(line)
        for path in sorted(CORPUS.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    wrong: list[str] = []
    started = time.perf_counter()
    for row in rows:
        result = normalise(row["field"], row["utterances"])
        expected = row["expect"]
        right = (result.value is None and not result.valid) if expected is None else result.value == expected
        kind = "values" if expected is not None else "refusals"
        for key in (row["field"], "all"):
            s = stats[key]
            s["cases"] += 1
            s[kind] += 1
            s["right"] += right
            s[f"{kind}_right"] += right
            s["wrong_values"] += not right and result.valid
            if row.get("set") == "held_out":
                s["held_out"] += 1
                s["held_out_right"] += right
        if not right:
            wrong.append(f"  {row['field']}: {row['utterances']} expected {expected!r}, got {result}")
    elapsed = time.perf_counter() - started
    print(
        f"{'type':<16}{'cases':>6}{'accuracy':>10}{'values':>10}{'refusals':>10}{'wrong values':>14}"
        f"{'held-out':>16}"
    )
    for name in (*FIELD_TYPES, "all"):
        print(_row(name, stats[name]))
    print(f"{len(rows)} cases in {elapsed * 1000:.0f} ms ({elapsed / len(rows) * 1e6:.0f} µs a case)")
    total = stats["all"]
    accuracy, wrong_share = total["right"] / total["cases"], total["wrong_values"] / total["cases"]
    verdict = "PASS" if accuracy >= TARGET_ACCURACY and wrong_share <= TARGET_WRONG_VALUES else "FAIL"
    print(
        f"{verdict}: accuracy {accuracy:.1%} (target ≥ {TARGET_ACCURACY:.0%}), wrong values {wrong_share:.1%} "
        f"(target ≤ {TARGET_WRONG_VALUES:.0%})"
    )
    if args.show_wrong and wrong:
        print("wrong:")
        print("\n".join(wrong))


def _row(name: str, s: dict[str, int]) -> str:
    accuracy = f"{s['right'] / s['cases']:.1%}" if s["cases"] else "-"
    values = f"{s['values_right']}/{s['values']}"
    refusals = f"{s['refusals_right']}/{s['refusals']}"
    held = (
        f"{s['held_out_right'] / s['held_out']:.0%} ({s['held_out_right']}/{s['held_out']})"
        if s["held_out"]
        else "-"
    )
    return (
        f"{name:<16}{s['cases']:>6}{accuracy:>10}{values:>10}{refusals:>10}{s['wrong_values']:>14}{held:>16}"
    )


if __name__ == "__main__":
    main()
