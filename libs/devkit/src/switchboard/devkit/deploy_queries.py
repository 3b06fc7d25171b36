"""The PromQL queries of the deployment files (alert rules, the Grafana dashboard, the autoscalers).

And what each reads: metric names, label matchers, grouping labels. The deploy tests check them against the
code and against a real Prometheus scraping the platform.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_KEYWORDS = frozenset("by without on ignoring group_left group_right and or unless bool offset".split())
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_THRESHOLD = re.compile(r"\s*(?:>|<|>=|<=|==|!=)\s*(?:bool\s+)?-?[\d.]+(?:e-?\d+)?\s*$")
GRAFANA_VARIABLES = re.compile(r"\$\{?\w+\}?")


@dataclass(frozen=True, slots=True)
class Query:
    """One query and where it is written."""

    where: str
    expr: str

    @property
    def is_alert(self) -> bool:
        """An alert's expression (compared with a threshold)."""
        return self.where.startswith("alert ")


def deploy_queries(root: Path) -> list[Query]:
    """The queries of deploy/prometheus/alerts.yml, the dashboard and the ScaledObjects of deploy/k8s."""
    deploy = root / "deploy"
    alerts = yaml.safe_load((deploy / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    queries = [
        Query(f"alert {rule['alert']}", rule["expr"]) for group in alerts["groups"] for rule in group["rules"]
    ]
    dashboard = json.loads(
        (deploy / "grafana" / "dashboards" / "switchboard.json").read_text(encoding="utf-8")
    )
    for panel in dashboard["panels"]:
        queries += [Query(f"panel {panel['title']}", target["expr"]) for target in panel.get("targets", [])]
    for path in sorted((deploy / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            queries += _scaler_queries(doc)
    return queries


def _scaler_queries(doc: Any) -> list[Query]:
    if not isinstance(doc, dict) or doc.get("kind") != "ScaledObject":
        return []
    return [
        Query(f"ScaledObject {doc['metadata']['name']}", trigger["metadata"]["query"])
        for trigger in doc["spec"]["triggers"]
        if trigger["type"] == "prometheus"
    ]


def _blank_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', GRAFANA_VARIABLES.sub("5m", expr))


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels and durations left out)."""
    text = _GROUPING.sub(" ", re.sub(r"\[[^\]]*\]", " ", re.sub(r"\{[^}]*\}", " ", _blank_strings(expr))))
    return {
        match.group()
        for match in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", text)
        if match.group() not in _KEYWORDS and not re.match(r"\s*\(", text[match.end() :])
    }


def label_matchers(expr: str) -> Iterator[tuple[str, str]]:
    """(metric, label) for every label matcher written right after a metric name."""
    for match in re.finditer(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", _blank_strings(expr)):
        for label in re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", match.group(2)):
            yield match.group(1), label


def grouping_labels(expr: str) -> set[str]:
    """The labels of every `by (…)` and `without (…)` of the expression."""
    found: set[str] = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", _blank_strings(expr)):
        found.update(label.strip() for label in group.split(",") if label.strip())
    return found


def without_threshold(expr: str) -> str:
    """An alert expression without its final comparison with a number: the series it compares."""
    return _THRESHOLD.sub("", expr.strip())
