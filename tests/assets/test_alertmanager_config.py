"""prometheus/alertmanager.yml, checked by Alertmanager's own amtool: valid; every Prometheus rule
routed as intended (a rule that mirrors one of the bundle's alert types goes nowhere, since the
bundle pages it itself; every other one to the bundle's webhook); its timings as docs/alerting.md
states them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from platform_monitoring.alerting.external import CLOUDWATCH_ALARM, PROMETHEUS_ALERT
from platform_monitoring.alerting.rules import RuleSet

from tests.assets.prometheus_server import RULES_DIR, ensure_prometheus_installed
from tests.support.alertmanager import SHIPPED_CONFIG, shipped_config, shipped_timings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def amtool() -> None:
    ensure_prometheus_installed()  # prometheus-alertmanager ships amtool


def receiver_for(labels: dict[str, str]) -> str:
    pairs = [f"{name}={value}" for name, value in labels.items()]
    result = subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={SHIPPED_CONFIG}", *pairs],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def prometheus_rules() -> list[dict[str, str]]:
    rules = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules += [
                {"alertname": rule["alert"], **rule.get("labels", {})} for rule in group["rules"] if "alert" in rule
            ]
    return rules


def test_amtool_accepts_the_config() -> None:
    result = subprocess.run(["amtool", "check-config", str(SHIPPED_CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_bundles_own_alert_types_are_exactly_the_ones_not_sent() -> None:
    [route] = shipped_config()["route"]["routes"]
    [matcher] = route["matchers"]
    listed = set(re.fullmatch(r'alert_type=~"(.+)"', matcher).group(1).split("|"))  # type: ignore[union-attr]
    assert listed == set(RuleSet.load()) - {PROMETHEUS_ALERT, CLOUDWATCH_ALARM}


def test_each_prometheus_rule_is_routed_as_intended() -> None:
    own = set(RuleSet.load())
    rules = prometheus_rules()
    assert rules, "no alerting rule found"
    for labels in rules:
        expected = "raised-by-the-bundle" if labels.get("alert_type") in own else "askproai-bundle"
        assert receiver_for(labels) == expected, labels
    assert receiver_for({"alertname": "AnyOtherRule", "severity": "critical"}) == "askproai-bundle"


def test_the_timings_are_the_documented_choice() -> None:
    docs = (ROOT / "docs" / "alerting.md").read_text(encoding="utf-8")
    table = docs.split("### Alertmanager's timings", 1)[1]
    documented = dict(
        re.findall(r"^\| `(group_wait|group_interval|repeat_interval)` \| ([^|]+) \|", table, re.MULTILINE)
    )
    spelled = {"5s": "5 s", "1m": "1 min", "1h": "1 h"}
    assert {name: spelled.get(value, value) for name, value in shipped_timings().items()} == {
        name: value.strip() for name, value in documented.items()
    }
