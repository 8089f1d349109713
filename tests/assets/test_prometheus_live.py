"""A real Prometheus scrapes a synthetic exposition of every catalog series, with the shipped rules.

Then every dashboard and rule expression is run through /api/v1/query and must not error; dashboard
queries must also return data (the synthetic series carry the label values the panels filter on),
except week-over-week comparisons, which have no week-old data here. The count-based alert rules
must fire on the real scrapes, high_error_rate must wait out its `for:`, and a target scraped with
the wrong secret must be down with a 401.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.assets.prometheus_server import (
    PROMETHEUS_DIR,
    PrometheusServer,
    ScrapeTarget,
    ensure_prometheus_installed,
    running_prometheus,
)
from tests.assets.promql import Expression, all_expressions, to_promql
from tests.assets.synthetic import serve_exposition

SECRET = "synthetic-metrics-secret"
GOOD_JOB = "askproai-synthetic"
WRONG_SECRET_JOB = "askproai-wrong-secret"
EXPRESSIONS = all_expressions()
SLO_COUNT = len(yaml.safe_load((PROMETHEUS_DIR / "slos.yaml").read_text())["slos"])
COUNT_ALERTS = {
    "AskProAIPaymentFailures",
    "AskProAISecurityBreachAttempt",
    "AskProAIStripeWebhookFailures",
    "AskProAIDatabaseConnectionFailures",
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    ensure_prometheus_installed()
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    with serve_exposition(SECRET) as address:
        targets = [
            ScrapeTarget(GOOD_JOB, address, bearer_token=SECRET, labels={"stage": "test"}),
            ScrapeTarget(WRONG_SECRET_JOB, address, bearer_token="not-the-secret"),
        ]
        with running_prometheus(targets, workdir) as server:
            # Three scrapes: rate() over 1m needs two samples, and the counters must have moved.
            server.wait_for_targets(timeout=20, jobs=[GOOD_JOB], scrapes=3)
            # The SLO panels read recorded series: wait until every SLO's budget has been recorded.
            server.wait_for(
                lambda: len(server.query(f'slo:error_budget_remaining:ratio{{job="{GOOD_JOB}"}}')) == SLO_COUNT or None,
                timeout=20,
                what="the SLO recording rules' first evaluation",
            )
            yield server


def test_bearer_secret_from_the_credentials_file_is_accepted(prometheus: PrometheusServer) -> None:
    targets = {t["labels"]["job"]: t for t in prometheus.targets()}
    assert targets[GOOD_JOB]["health"] == "up", targets[GOOD_JOB]["lastError"]
    assert targets[GOOD_JOB]["labels"]["stage"] == "test"
    wrong = prometheus.wait_for(
        lambda: (
            (t := {x["labels"]["job"]: x for x in prometheus.targets()}[WRONG_SECRET_JOB])["health"] == "down" and t
        ),
        timeout=10,
        what="the wrong-secret target to be down",
    )
    assert "401" in wrong["lastError"]


def test_every_catalog_series_was_scraped(prometheus: PrometheusServer) -> None:
    from platform_monitoring.observability.catalog import CATALOG

    for spec in CATALOG:
        name = spec.exposed_name + ("_count" if spec.type == "histogram" else "")
        assert prometheus.query(f'{name}{{job="{GOOD_JOB}"}}'), f"{name} was not scraped"


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=[e.source for e in EXPRESSIONS])
def test_expression_runs_on_prometheus(prometheus: PrometheusServer, expression: Expression) -> None:
    query = to_promql(expression)
    result = prometheus.query(query)  # raises PrometheusError on a bad query
    if expression.kind != "rule" and " offset " not in query:
        assert result, f"no data for {query}"


def test_rules_evaluate_without_errors(prometheus: PrometheusServer) -> None:
    def evaluated() -> list[dict[str, object]] | None:
        rules = [rule for group in prometheus.rule_groups() for rule in group["rules"]]
        return rules if rules and all(rule["health"] != "unknown" for rule in rules) else None

    rules = prometheus.wait_for(evaluated, timeout=15, what="every rule to be evaluated")
    assert len(rules) == len([e for e in all_expressions() if e.kind == "rule"])
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert broken == {}


def test_alerts_fire_on_real_scrapes(prometheus: PrometheusServer) -> None:
    # Every synthetic counter series grows by one per scrape (each second): far above every
    # count threshold. The error ratio is 24 error series / 36 request series, above 5%, but
    # high_error_rate has `for: 2m` and must still be pending.
    def firing() -> dict[str, list[dict[str, object]]] | None:
        alerts: dict[str, list[dict[str, object]]] = {}
        for alert in prometheus.alerts():
            alerts.setdefault(alert["labels"]["alertname"], []).append(alert)
        fired = {name for name, items in alerts.items() if any(a["state"] == "firing" for a in items)}
        return alerts if fired >= COUNT_ALERTS and "AskProAIHighErrorRate" in alerts else None

    alerts = prometheus.wait_for(firing, timeout=20, what=f"{sorted(COUNT_ALERTS)} to fire")
    for name in COUNT_ALERTS:
        (alert,) = alerts[name]
        assert alert["labels"]["severity"] in {"critical", "high"}
        assert alert["annotations"]["runbook_url"].endswith(f"/{alert['labels']['alert_type']}.md")
    assert [a["state"] for a in alerts["AskProAIHighErrorRate"]] == ["pending"]
    # metrics_down: pending for the wrong-secret target only; the good target reports askproai_up 1.
    down_jobs = {a["labels"]["job"] for a in alerts.get("AskProAIMetricsDown", [])}
    assert GOOD_JOB not in down_jobs
    assert all(a["state"] == "pending" for a in alerts.get("AskProAIMetricsDown", []))


def test_slo_pages_fire_on_real_scrapes_and_the_latency_slo_stays_quiet(prometheus: PrometheusServer) -> None:
    # The synthetic exposition fails half of its webhook events and answers 2 of 3 request series
    # with 5xx: both SLOs burn far beyond 14.4x. Every synthetic observation is under 1000 ms, so
    # the latency SLO spends nothing.
    pages = {"AskProAIWebhookProcessingBudgetBurnPage", "AskProAIApiAvailabilityBudgetBurnPage"}

    def firing() -> set[str] | None:
        names = {
            alert["labels"]["alertname"]
            for alert in prometheus.alerts()
            if alert["state"] == "firing" and alert["labels"].get("job") == GOOD_JOB
        }
        return names if names >= pages else None

    names = prometheus.wait_for(firing, timeout=20, what=f"{sorted(pages)} to fire")
    assert not {name for name in names if name.startswith("AskProAIApiLatency")}
    (latency,) = prometheus.query(f'slo:error_budget_remaining:ratio{{job="{GOOD_JOB}",slo="api_latency"}}')
    assert float(latency["value"][1]) == 1.0
