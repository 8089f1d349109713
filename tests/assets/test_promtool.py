"""promtool on the shipped Prometheus configs, rules, rule unit tests and a synthetic exposition."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.assets.prometheus_server import (
    DEPLOYED_CONFIG,
    LOCAL_CONFIG,
    PROMETHEUS_DIR,
    RULES_DIR,
    ScrapeTarget,
    render_config,
)
from tests.assets.synthetic import exposition

RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
# alerts_test.yml (the hand-written rules) and slos_test.yml (the generated SLO rules).
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*_test.yml"))
# The guide's three, and PerformanceMonitor's transactions in the same unit beside them.
HISTOGRAMS_IN_MS = (
    "http_request_duration_ms",
    "stripe_webhook_duration_ms",
    "external_api_duration_ms",
    "transaction_duration_ms",
)


def _output(result: object) -> str:
    return f"{getattr(result, 'stdout', '')}\n{getattr(result, 'stderr', '')}"


def test_rule_files_pass_check_rules(promtool) -> None:
    assert RULE_FILES, "no rule files in prometheus/rules"
    result = promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, _output(result)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("rule_tests", RULE_TESTS, ids=lambda p: p.name)
def test_rule_unit_tests_pass(promtool, rule_tests: Path) -> None:
    # slos_test.yml evaluates two days of 5-minute samples: tens of seconds on a busy machine.
    result = promtool("test", "rules", str(rule_tests), timeout=300)
    assert result.returncode == 0, _output(result)
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    alerts = {
        rule["alert"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    fires: set[str] = set()
    quiet: set[str] = set()
    tests = [test for path in RULE_TESTS for test in yaml.safe_load(path.read_text())["tests"]]
    assert {path.name for path in RULE_TESTS} >= {"alerts_test.yml", "slos_test.yml"}
    for test in tests:
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
            for alert in case.get("exp_alerts") or []:
                assert {"severity", "alert_type"} <= set(alert["exp_labels"]), test["name"]
                assert {"summary", "description", "runbook_url"} <= set(alert["exp_annotations"]), test["name"]
    assert alerts - fires == set(), "alerts without a test where they fire"
    assert alerts - quiet == set(), "alerts without a test where they must not fire"


@pytest.mark.parametrize("config", [DEPLOYED_CONFIG, LOCAL_CONFIG], ids=lambda p: p.name)
def test_configs_pass_check_config_with_credentials_files_present(promtool, tmp_path: Path, config: Path) -> None:
    # promtool also checks that credentials files exist; the deployed one is never committed, so
    # check a copy of the folder with a stand-in secret.
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    for scrape in yaml.safe_load(config.read_text())["scrape_configs"]:
        credentials = scrape.get("authorization", {}).get("credentials_file")
        if credentials:
            secret = copy / credentials
            secret.parent.mkdir(parents=True, exist_ok=True)
            if not secret.exists():
                secret.write_text("stand-in-secret")
    result = promtool("check", "config", str(copy / config.name))
    assert result.returncode == 0, _output(result)
    assert "rule files found" in _output(result)


@pytest.mark.parametrize("config", [DEPLOYED_CONFIG, LOCAL_CONFIG], ids=lambda p: p.name)
def test_configs_pass_check_config_syntax_only_in_place(promtool, config: Path) -> None:
    result = promtool("check", "config", "--syntax-only", str(config))
    assert result.returncode == 0, _output(result)


def test_configs_keep_bearer_secrets_in_files() -> None:
    for config in (DEPLOYED_CONFIG, LOCAL_CONFIG):
        doc = yaml.safe_load(config.read_text())
        askproai_jobs = [job for job in doc["scrape_configs"] if job["job_name"].startswith("askproai")]
        assert askproai_jobs, config.name
        for job in askproai_jobs:
            auth = job["authorization"]
            assert auth["type"] == "Bearer"
            assert set(auth) == {"type", "credentials_file"}, f"{config.name}: secrets belong in credentials_file"
            assert "bearer_token" not in job
            assert job["metrics_path"].endswith("/api/metrics")
        assert doc["rule_files"] == ["rules/alerts.yml", "rules/slos.yml"]
    deployed = next(
        j for j in yaml.safe_load(DEPLOYED_CONFIG.read_text())["scrape_configs"] if j["job_name"] == "askproai"
    )
    assert deployed["scheme"] == "https"
    assert deployed["metrics_path"] == "/prod/api/metrics"
    local = yaml.safe_load(LOCAL_CONFIG.read_text())["scrape_configs"][0]
    assert local["static_configs"][0]["targets"] == ["127.0.0.1:3000"]
    assert local["metrics_path"] == "/api/metrics"
    # The deployed secret must never be committed; the local one is the well-known .env.example value.
    ignore = (PROMETHEUS_DIR / "secrets" / ".gitignore").read_text()
    assert "*" in ignore.splitlines()
    assert (PROMETHEUS_DIR / "secrets" / "local-metrics-secret").read_text() == "local-metrics-secret"


def test_rendered_test_config_passes_check_config(promtool, tmp_path: Path) -> None:
    target = ScrapeTarget("askproai-local", "127.0.0.1:3000", bearer_token="local-metrics-secret")
    config = render_config([target], tmp_path)
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, _output(result)
    token_file = next((tmp_path / "secrets").iterdir())
    assert token_file.read_text() == "local-metrics-secret"
    assert token_file.stat().st_mode & 0o077 == 0


def test_synthetic_exposition_passes_check_metrics(promtool) -> None:
    result = promtool("check", "metrics", stdin=exposition(ticks=3))
    # Exit 1 is a parse error; 3 is lint findings. The only accepted findings are the guide's own
    # histogram names, which carry milliseconds in the name (Prometheus prefers base units).
    assert result.returncode in {0, 3}, _output(result)
    findings = {line.strip() for line in _output(result).splitlines() if line.strip()}
    accepted = {f"askproai_{name} metric names should not contain abbreviated units" for name in HISTOGRAMS_IN_MS}
    assert findings <= accepted, _output(result)
