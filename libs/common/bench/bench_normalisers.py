"""Per-type accuracy of the Mexican-Spanish normalisers on the test corpus (libs/common/tests/flows/corpus).

A case is right when the normaliser gives the expected value, or refuses when a refusal is expected.
Prints, per type: cases, right, accuracy, values right, refusals right, wrong values given (the costly error:
a value the caller did not say), and the throughput of one process.

    uv run python libs/common/bench/bench_normalisers.py [--show-wrong]
"""

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from switchboard.common.flows.normalisers import FIELD_TYPES, normalise

CORPUS = Path(__file__).parents[1] / "tests" / "flows" / "corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-wrong", action="store_true", help="list every case the normaliser gets wrong")
    args = parser.parse_args()
    rows = [
        json.loads(line) for path in sorted(CORPUS.glob("*.jsonl")) for line in path.read_text().splitlines()
    ]
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    wrong: list[str] = []
    started = time.perf_counter()
    for row in rows:
        result = normalise(row["field"], row["utterances"])
        s = stats[row["field"]]
        s["cases"] += 1
        expected = row["expect"]
        s["values" if expected is not None else "refusals"] += 1
        right = (result.value is None and not result.valid) if expected is None else result.value == expected
        if right:
            s["right"] += 1
            s["values_right" if expected is not None else "refusals_right"] += 1
        else:
            if result.valid:
                s["wrong_values"] += 1
            wrong.append(f"  {row['field']}: {row['utterances']} expected {expected!r}, got {result}")
    elapsed = time.perf_counter() - started
    print(
        f"{'type':<16}{'cases':>6}{'right':>7}{'accuracy':>10}{'values':>10}{'refusals':>10}{'wrong values':>14}"
    )
    total: dict[str, int] = defaultdict(int)
    for field in FIELD_TYPES:
        s = stats[field]
        for key, count in s.items():
            total[key] += count
        print(_row(field, s))
    print(_row("all", total))
    print(f"{len(rows)} cases in {elapsed * 1000:.0f} ms ({elapsed / len(rows) * 1e6:.0f} µs a case)")
    if args.show_wrong and wrong:
        print("wrong:")
        print("\n".join(wrong))


def _row(name: str, s: dict[str, int]) -> str:
    values = f"{s['values_right']}/{s['values']}"
    refusals = f"{s['refusals_right']}/{s['refusals']}"
    accuracy = f"{100 * s['right'] / s['cases']:.1f}%" if s["cases"] else "-"
    return f"{name:<16}{s['cases']:>6}{s['right']:>7}{accuracy:>10}{values:>10}{refusals:>10}{s['wrong_values']:>14}"


if __name__ == "__main__":
    main()
