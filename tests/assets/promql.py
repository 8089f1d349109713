"""The PromQL the bundle ships (alert rules, dashboard panels and variables) and a small name parser.

No PromQL parser ships with promtool 2.42, so names are found lexically: strings, label matchers,
range/subquery brackets and grouping label lists are removed, and what remains that looks like an
identifier, is not a keyword and is not followed by `(` is a metric name. That is enough for the
expressions here, and the live test (tests/assets/test_prometheus_live.py) runs every expression on
a real server, which catches anything this misses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from platform_monitoring.observability.catalog import CATALOG

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = REPO_ROOT / "prometheus" / "rules"
DASHBOARD_DIR = REPO_ROOT / "grafana" / "dashboards"

# What Grafana fills in; the tests use these values.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h", "__range_s": "3600"}

KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
    "atan2",
}
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")
LABEL_ONLY = {"job", "instance", "le", "__name__"}


@dataclass(frozen=True)
class Expression:
    source: str  # where it comes from: "<file>: <rule or panel title>"
    expr: str  # as written (Grafana variables unreplaced)
    kind: str  # "rule", "panel" or "variable"


def rule_expressions() -> Iterator[Expression]:
    for path in sorted(RULES_DIR.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                yield Expression(f"{path.name}: {name}", str(rule["expr"]), "rule")


def recorded_series() -> dict[str, set[str]]:
    """Series the rule files record -> the labels they carry (the rule's labels and its grouping)."""
    recorded: dict[str, set[str]] = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    expr = str(rule["expr"])
                    labels = set(rule.get("labels", {})) | grouping_labels(expr)
                    if not grouping_labels(expr):  # no aggregation: keeps the labels of what it reads
                        labels |= set().union(*(recorded.get(name, set()) for name in metric_names(expr)))
                    recorded.setdefault(rule["record"], set()).update(labels)
    return recorded


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def dashboard_expressions() -> Iterator[Expression]:
    for name, dashboard in load_dashboards().items():
        for panel in all_panels(dashboard):
            for target in panel.get("targets", []):
                yield Expression(f"{name}: {panel['title']} [{target['refId']}]", target["expr"], "panel")
        for variable in dashboard["templating"]["list"]:
            if variable["type"] == "query":
                query = variable["query"]
                text = query["query"] if isinstance(query, dict) else query
                yield Expression(f"{name}: ${variable['name']}", text, "variable")


def all_expressions() -> list[Expression]:
    return [*rule_expressions(), *dashboard_expressions()]


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """What each dashboard variable stands for in a test query: query variables match everything."""
    values = dict(GRAFANA_BUILTINS)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            values[variable["name"]] = variable.get("allValue") or ".+"
        elif variable["type"] in {"textbox", "custom", "constant"}:
            values[variable["name"]] = str(variable["current"]["value"])
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace $var, ${var} and ${var:format} as Grafana would (single values)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, expr)


def to_promql(expression: Expression) -> str:
    """The query to send to Prometheus for `expression` (variables replaced; label_values unwrapped)."""
    if expression.kind == "rule":
        return expression.expr
    dashboard = load_dashboards()[expression.source.split(":", 1)[0]]
    expr = substitute(expression.expr, variable_values(dashboard))
    label_values = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", expr)
    if label_values:
        return f"group by ({label_values.group(2)}) ({label_values.group(1)})"
    return expr


def _strip(expr: str) -> str:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)  # label lists
    return re.sub(r"\$\{?\w+(?::\w+)?\}?", " ", expr)  # unreplaced Grafana variables


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (functions, keywords, numbers and durations excluded)."""
    if match := re.fullmatch(r"\s*label_values\((.+),\s*\w+\)\s*", expr):
        expr = match.group(1)
    stripped = _strip(expr)
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", stripped):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def label_names_by_metric(expr: str) -> Iterator[tuple[str, str]]:
    """(metric, label) for every label matcher written as metric{label...}."""
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", unquoted):
        for label in re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", match.group(2)):
            yield match.group(1), label


def grouping_labels(expr: str) -> set[str]:
    labels: set[str] = set()
    for match in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        labels.update(label.strip() for label in match.group(1).split(",") if label.strip())
    return labels


# Catalog names as scraped: counters gain `_total`; histograms are selected as _bucket/_sum/_count.
EXPOSED: dict[str, Any] = {spec.exposed_name: spec for spec in CATALOG}


def catalog_spec_for(name: str) -> Any | None:
    """The catalog entry a scraped series name belongs to, or None."""
    if name in EXPOSED:
        return EXPOSED[name]
    for suffix in SERIES_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and base in EXPOSED and EXPOSED[base].type == "histogram":
            return EXPOSED[base]
    return None
