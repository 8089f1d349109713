"""Write prometheus/rules/slos.yml from prometheus/slos.yaml: SLO recording and burn-rate alerts.

    .venv/bin/python scripts/generate_slo_rules.py          # write the rules
    .venv/bin/python scripts/generate_slo_rules.py --check  # exit 1 when the committed file differs

The shapes follow the Google SRE workbook ("Alerting on SLOs", multiwindow, multi-burn-rate),
as sloth and pyrra generate them; written here rather than run through sloth (a Go binary, no
Debian package) because the bundle needs only the rules, and the generator is short:

- `slo:sli_error:ratio_rate<window>{slo, job}`: the error ratio over each window any alert uses;
- `slo:sli_error:ratio_rate<period>{slo, job}`: the mean of the 5-minute ratio over the period
  (as sloth does: a 30-day rate() on raw counters per evaluation would be costly);
- `slo:error_budget_remaining:ratio{slo, job}`: 1 - period error ratio / error budget (1 is
  untouched, 0 spent, below 0 overspent);
- per SLO one `page` and one `ticket` alert, each the `or` of its window pairs, each pair the
  `and` of a long and a short window burning faster than its factor. `$value` is the long
  window's burn rate.

An errors-SLI with no error series yet reads 0 (`or 0 * total`), and a good-SLI with no good
series reads 1: the absence of a series is data, not silence. No traffic at all gives no ratio
(0/0) and so no alert: an SLO says nothing about a service nobody calls (AskProAIMetricsDown
covers a silent scrape).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SLO_FILE = REPO_ROOT / "prometheus" / "slos.yaml"
RULES_FILE = REPO_ROOT / "prometheus" / "rules" / "slos.yml"
RUNBOOK_BASE = "https://github.com/your-org/askproai-monitoring/blob/main/docs/runbooks/"
ALERT_TYPE = "slo_budget_burn"
ERROR_RATIO = "slo:sli_error:ratio_rate"
BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
# The short window the period's mean is taken over.
BASE_WINDOW = "5m"
_DURATION = re.compile(r"^(\d+)([mhd])$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"durations are <n>m, <n>h or <n>d, not {duration!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


@dataclass(frozen=True)
class WindowPair:
    long: str
    short: str
    factor: float


@dataclass(frozen=True)
class AlertPolicy:
    kind: str  # "page" or "ticket"
    severity: str
    windows: tuple[WindowPair, ...]


@dataclass(frozen=True)
class SLO:
    name: str
    title: str
    description: str
    objective: float
    total: str
    errors: str | None
    good: str | None

    @property
    def error_budget(self) -> float:
        # Rounded so 1 - 0.999 is written 0.001, not 0.0010000000000000009.
        return round(1 - self.objective, 12)

    @property
    def camel(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))


@dataclass(frozen=True)
class SLOConfig:
    period: str
    policies: tuple[AlertPolicy, ...]
    slos: tuple[SLO, ...]

    @property
    def windows(self) -> list[str]:
        """Every window an alert reads, shortest first (plus the base window of the period's mean)."""
        found = {BASE_WINDOW} | {w for p in self.policies for pair in p.windows for w in (pair.long, pair.short)}
        return sorted(found, key=seconds)


def load(path: Path = SLO_FILE) -> SLOConfig:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    policies = tuple(
        AlertPolicy(
            kind,
            str(spec["severity"]),
            tuple(WindowPair(str(w["long"]), str(w["short"]), float(w["factor"])) for w in spec["windows"]),
        )
        for kind, spec in doc["burn_rate_alerts"].items()
    )
    slos = []
    for item in doc["slos"]:
        sli = item["sli"]
        if ("errors" in sli) == ("good" in sli):
            raise ValueError(f"SLO {item['name']}: its sli names `total` and one of `errors` or `good`")
        objective = float(item["objective"])
        if not 0 < objective < 1:
            raise ValueError(f"SLO {item['name']}: objective is a ratio between 0 and 1, not {objective}")
        slos.append(
            SLO(
                name=str(item["name"]),
                title=str(item["title"]),
                description=" ".join(str(item["description"]).split()),
                objective=objective,
                total=str(sli["total"]),
                errors=sli.get("errors"),
                good=sli.get("good"),
            )
        )
    names = [slo.name for slo in slos]
    if len(names) != len(set(names)):
        raise ValueError("SLO names must be unique")
    config = SLOConfig(str(doc["period"]), policies, tuple(slos))
    for window in (*config.windows, config.period):
        seconds(window)
    return config


def _rate(selector: str, window: str) -> str:
    return f"sum by (job) (rate({selector}[{window}]))"


def error_ratio_expr(slo: SLO, window: str) -> str:
    total = _rate(slo.total, window)
    if slo.errors is not None:
        return f"({_rate(slo.errors, window)} or 0 * {total})\n/\n{total}"
    assert slo.good is not None
    return f"1 - (\n  ({_rate(slo.good, window)} or 0 * {total})\n  /\n  {total}\n)"


def _ratio(window: str, slo: SLO) -> str:
    return f'{ERROR_RATIO}{window}{{slo="{slo.name}"}}'


def _number(value: float) -> str:
    return f"{value:g}"


def alert_expr(slo: SLO, policy: AlertPolicy) -> str:
    budget = _number(slo.error_budget)
    pairs = [
        f"(\n  {_ratio(pair.long, slo)} / {budget} > {_number(pair.factor)}\n"
        f"  and\n  {_ratio(pair.short, slo)} / {budget} > {_number(pair.factor)}\n)"
        for pair in policy.windows
    ]
    return "\nor\n".join(pairs)


def _percent(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def alert_rule(slo: SLO, policy: AlertPolicy, period: str) -> dict[str, Any]:
    pairs = ", or ".join(f"{_number(p.factor)}x over {p.long} and {p.short}" for p in policy.windows)
    return {
        "alert": f"AskProAI{slo.camel}BudgetBurn{policy.kind.capitalize()}",
        "expr": alert_expr(slo, policy),
        "labels": {"severity": policy.severity, "alert_type": ALERT_TYPE, "slo": slo.name, "slo_alert": policy.kind},
        "annotations": {
            "summary": f"{slo.title}: error budget burning at {{{{ $value | humanize }}}}x ({policy.kind})",
            "description": (
                f"The {slo.title} SLO ({_percent(slo.objective)} over {period}) of {{{{ $labels.job }}}} spends its "
                f"error budget {{{{ $value | humanize }}}}x as fast as the objective allows ({pairs}). "
                "See docs/slos.md and the SLOs dashboard."
            ),
            "runbook_url": f"{RUNBOOK_BASE}{ALERT_TYPE}.md",
        },
    }


def rules(config: SLOConfig) -> dict[str, Any]:
    groups: list[dict[str, Any]] = []
    for slo in config.slos:
        recording: list[dict[str, Any]] = [
            {"record": f"{ERROR_RATIO}{window}", "expr": error_ratio_expr(slo, window), "labels": {"slo": slo.name}}
            for window in config.windows
        ]
        recording.append(
            {
                "record": f"{ERROR_RATIO}{config.period}",
                "expr": f"avg_over_time({_ratio(BASE_WINDOW, slo)}[{config.period}])",
                "labels": {"slo": slo.name},
            }
        )
        recording.append(
            {
                "record": BUDGET_REMAINING,
                "expr": f"1 - {_ratio(config.period, slo)} / {_number(slo.error_budget)}",
                "labels": {"slo": slo.name},
            }
        )
        alerting = [alert_rule(slo, policy, config.period) for policy in config.policies]
        # One group: its rules run in order, so the alerts read this evaluation's ratios (rules of
        # separate groups run concurrently and could read the previous evaluation's).
        groups.append({"name": f"askproai-slo-{slo.name}", "interval": "1m", "rules": recording + alerting})
    return {"groups": groups}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so the expressions read as written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

HEADER = """\
# GENERATED by scripts/generate_slo_rules.py from prometheus/slos.yaml: edit those, then run
#   .venv/bin/python scripts/generate_slo_rules.py
# (make lint runs it with --check). docs/slos.md explains the objectives, windows and alerts;
# prometheus/tests/slos_test.yml is their promtool unit test.
"""


def render(config: SLOConfig | None = None) -> str:
    body = yaml.dump(rules(config or load()), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed rules are stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = RULES_FILE.read_text(encoding="utf-8") if RULES_FILE.exists() else ""
        if current != text:
            print(f"{RULES_FILE.relative_to(REPO_ROOT)} is stale: run .venv/bin/python scripts/generate_slo_rules.py")
            return 1
        return 0
    RULES_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {RULES_FILE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
