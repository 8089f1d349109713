"""Rules and dashboards use only catalog series, with their real labels; dashboards show every series."""

from __future__ import annotations

import pytest
import yaml
from platform_monitoring.observability.catalog import CATALOG

from tests.assets.promql import (
    LABEL_ONLY,
    RULES_DIR,
    Expression,
    all_expressions,
    catalog_spec_for,
    dashboard_expressions,
    grouping_labels,
    label_names_by_metric,
    metric_names,
    recorded_series,
)

EXPRESSIONS = all_expressions()
# Recording rules' series (prometheus/rules/slos.yml): name -> labels.
RECORDED = recorded_series()
ALL_LABELS = {label for spec in CATALOG for label in spec.labels} | LABEL_ONLY | set().union(*RECORDED.values())
GUIDE_RULES = {
    # alert_type: (severity, Prometheus alert name)
    "payment_failure": ("critical", "AskProAIPaymentFailures"),
    "security_breach_attempt": ("critical", "AskProAISecurityBreachAttempt"),
    "stripe_webhook_failure": ("high", "AskProAIStripeWebhookFailures"),
    "high_error_rate": ("high", "AskProAIHighErrorRate"),
    "database_connection_failure": ("critical", "AskProAIDatabaseConnectionFailures"),
    "metrics_down": ("high", "AskProAIMetricsDown"),
    "health_check_failure": ("high", "AskProAIHealthCheckFailing"),
}
RUNBOOK_BASE = "https://github.com/your-org/askproai-monitoring/blob/main/docs/runbooks/"


def _ids(expressions: list[Expression]) -> list[str]:
    return [e.source for e in expressions]


def test_the_parser_finds_metric_names() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(askproai_http_request_duration_ms_bucket{job=~"$job",'
        'route=~"/portal.*"}[$__rate_interval]))) / on (job) group_left (instance) up offset 1w > bool 1e3 '
        'or vector(0) and label_replace(askproai_up, "dst", "$1", "src", "(.*)")'
    )
    assert metric_names(expr) == {"askproai_http_request_duration_ms_bucket", "up", "askproai_up"}
    assert metric_names("label_values(askproai_up, job)") == {"askproai_up"}
    assert grouping_labels(expr) == {"le", "route", "job", "instance"}
    assert set(label_names_by_metric(expr)) == {
        ("askproai_http_request_duration_ms_bucket", "job"),
        ("askproai_http_request_duration_ms_bucket", "route"),
    }


def test_there_are_rules_and_dashboard_queries() -> None:
    kinds = {e.kind for e in EXPRESSIONS}
    assert kinds == {"rule", "panel", "variable"}
    assert len(EXPRESSIONS) > 50


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=_ids(EXPRESSIONS))
def test_expression_uses_only_catalog_series(expression: Expression) -> None:
    names = metric_names(expression.expr)
    assert names, f"no metric found in {expression.expr!r}"
    for name in names - {"up"} - set(RECORDED):
        spec = catalog_spec_for(name)
        assert spec is not None, f"{name} is not a series of catalog.py (counters end in _total) or a recording rule"
        if spec.type == "histogram":
            assert name != spec.name, f"{name} is a histogram: select _bucket, _sum or _count"


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=_ids(EXPRESSIONS))
def test_expression_uses_only_labels_the_series_have(expression: Expression) -> None:
    for metric, label in label_names_by_metric(expression.expr):
        if metric == "up":
            assert label in {"job", "instance"}, f"up has no label {label}"
            continue
        if metric in RECORDED:
            assert label in RECORDED[metric], f"the recorded {metric} has no label {label!r}"
            continue
        spec = catalog_spec_for(metric)
        assert spec is not None, metric
        allowed = set(spec.labels) | {"job", "instance"} | ({"le"} if metric.endswith("_bucket") else set())
        assert label in allowed, f"{metric} has no label {label!r} (catalog: {spec.labels})"
    unknown = grouping_labels(expression.expr) - ALL_LABELS
    assert unknown == set(), f"grouping by labels no catalog series has: {unknown}"


def test_every_catalog_series_is_on_a_dashboard_panel() -> None:
    shown = {
        catalog_spec_for(name).name
        for e in dashboard_expressions()
        if e.kind == "panel"
        for name in metric_names(e.expr)
        if catalog_spec_for(name) is not None
    }
    missing = sorted(spec.exposed_name for spec in CATALOG if spec.name not in shown)
    assert missing == [], f"catalog series no dashboard panel shows: {missing}"


def test_alert_rules_carry_the_guides_labels_and_annotations() -> None:
    # The hand-written rules; the generated SLO alerts are checked in test_slo_rules.py.
    rules = {
        rule["alert"]: rule
        for path in [RULES_DIR / "alerts.yml"]
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert set(rules) == {name for _, name in GUIDE_RULES.values()}
    for alert_type, (severity, name) in GUIDE_RULES.items():
        rule = rules[name]
        assert rule["labels"] == {"severity": severity, "alert_type": alert_type}, name
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, name
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOK_BASE}{alert_type}.md", name
