"""Write grafana/dashboards/*.json: the guide's four dashboards ("Grafana Dashboards") and the SLOs'.

The JSON files are generated so that every panel follows the same conventions (datasource
variable, `job` filter, units, layout) and so a reviewer reads queries here, not in 3,000 lines
of JSON. After editing this file run:

    .venv/bin/python grafana/generate_dashboards.py

tests/assets checks that the committed JSON is what this script writes, that every query uses
only series from shared/platform_monitoring/catalog.py, and that every query runs on a real
Prometheus.

Conventions:
- The datasource is the dashboard variable `DS_PROMETHEUS` (type datasource, Prometheus). It
  defaults to the default Prometheus datasource (the provisioned one has uid `prometheus`), so
  the same JSON works imported through the UI and provisioned from files, with no __inputs.
- Every selector carries `job=~"$job"`; `$job` lists the jobs that expose `askproai_up`, and its
  "All" value is `askproai.*` (scrape job names start with `askproai`, as in prometheus/*.yml and
  the AskProAIMetricsDown rule), so `up` panels ignore unrelated jobs of a shared Prometheus.
- Rare events (payments, logins, security) are shown as counts per window with `increase()`;
  traffic as per-second rates over `$__rate_interval`.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
GRID_WIDTH = 24

# Portal routes: the bundle's own API has no portal routes; the platform's portal records its
# requests through the shared library with these route labels (assumption, editable on the
# dashboard as the `portal_routes` variable).
PORTAL_ROUTES_DEFAULT = "/portal.*|/api/portal.*"
# Security event types that count as breach attempts (the security_breach_attempt rule).
BREACH_TYPES = "failed_login|privilege_escalation|suspicious_activity"
# Successful payments: processed `payment_intent.succeeded` webhooks (the catalog has no
# payments-succeeded counter; see docs/dashboards.md).
PAYMENT_SUCCEEDED = 'type="payment_intent.succeeded",status="processed"'

Panel = dict[str, Any]


WEEK = 'window="7d"'
P90_7D = 'window="7d",stat="p90"'  # not `quantile`: promtool reserves it for summaries


def sel(metric: str, matchers: str = "") -> str:
    """A selector for `metric` restricted to the chosen job(s), plus extra matchers."""
    extra = f",{matchers}" if matchers else ""
    return f'{metric}{{job=~"$job"{extra}}}'


def target(expr: str, legend: str = "", *, instant: bool = False) -> dict[str, Any]:
    return {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": "",  # numbered in _finish
    }


def _thresholds(steps: list[tuple[str, float | None]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in steps]}


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
    threshold: float | None = None,
    stack: bool = False,
    minimum: float | None = 0,
    maximum: float | None = None,
    draw: str = "line",
) -> Panel:
    defaults: dict[str, Any] = {
        "unit": unit,
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": draw,
            "lineWidth": 1,
            "fillOpacity": 20 if stack else 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "line" if threshold is not None else "off"},
        },
        "thresholds": _thresholds([("green", None)] + ([("red", threshold)] if threshold is not None else [])),
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": width, "h": height},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }


def stat(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    width: int = 4,
    height: int = 4,
    steps: list[tuple[str, float | None]] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    decimals: int | None = None,
) -> Panel:
    defaults: dict[str, Any] = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": _thresholds(steps or [("green", None)]),
        "mappings": mappings or [],
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": width, "h": height},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "auto",
            "textMode": "auto",
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
        },
        "targets": targets,
    }


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"w": GRID_WIDTH, "h": 1}, "panels": []}


def _finish(panels: list[Panel]) -> list[Panel]:
    """Number panels and targets, and lay panels out left to right, top to bottom."""
    x = y = line_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        panel["id"] = panel_id
        grid = panel["gridPos"]
        if x + grid["w"] > GRID_WIDTH or panel["type"] == "row":
            x, y = 0, y + line_height
            line_height = 0
        grid["x"], grid["y"] = x, y
        x += grid["w"]
        line_height = max(line_height, grid["h"])
        for index, tgt in enumerate(panel.get("targets", [])):
            tgt["refId"] = chr(ord("A") + index)
    return panels


def _variables(extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    job_query = "label_values(askproai_up, job)"
    variables: list[dict[str, Any]] = [
        {
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        {
            "name": "job",
            "label": "Job",
            "type": "query",
            "datasource": DS,
            "definition": job_query,
            "query": {"query": job_query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 1,
            "includeAll": True,
            "allValue": "askproai.*",
            "multi": False,
            "current": {"selected": True, "text": "All", "value": "$__all"},
            "sort": 1,
            "hide": 0,
            "regex": "",
            "options": [],
        },
    ]
    return {"list": variables + (extra or [])}


def dashboard(uid: str, title: str, description: str, panels: list[Panel], **kwargs: Any) -> dict[str, Any]:
    return {
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
            {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
        ],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "type": "dashboards",
                "tags": ["askproai"],
                "asDropdown": True,
                "title": "AskProAI dashboards",
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "panels": _finish(panels),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["askproai", "monitoring"],
        "templating": _variables(kwargs.get("variables")),
        "time": {"from": kwargs.get("time_from", "now-6h"), "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def quantiles(metric: str, matchers: str = "", by: str = "") -> list[dict[str, Any]]:
    group = f"le, {by}" if by else "le"
    out = []
    for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        expr = (
            f"histogram_quantile({q}, sum by ({group}) (rate({sel(metric + '_bucket', matchers)}[$__rate_interval])))"
        )
        out.append(target(expr, f"{name} {{{{{by}}}}}" if by else name))
    return out


# --------------------------------------------------------------------------------------------
# System Overview: request rate, error rate, response times, queue sizes, active users; plus
# memory, up, health checks and the bundle's own counters.
# --------------------------------------------------------------------------------------------
def system_overview() -> dict[str, Any]:
    req = "askproai_http_requests_total"
    err = "askproai_http_requests_errors_total"
    error_ratio_5m = f"(sum(rate({sel(err)}[5m])) or vector(0)) / sum(rate({sel(req)}[5m]))"
    up_mappings = [
        {"type": "value", "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}}}
    ]
    panels = [
        stat(
            "Metrics endpoint",
            "up: 1 when Prometheus scraped GET /api/metrics successfully (secret accepted, answered in time).",
            [target(f"min({sel('up')})", "scrape", instant=True)],
            steps=[("red", None), ("green", 1)],
            mappings=up_mappings,
        ),
        stat(
            "Metric store",
            "askproai_up: 1 while the metrics endpoint can read the metric store (Redis).",
            [target(f"min({sel('askproai_up')})", "store", instant=True)],
            steps=[("red", None), ("green", 1)],
            mappings=up_mappings,
        ),
        stat(
            "Request rate (5m)",
            "Requests per second served by the bundle's API, averaged over 5 minutes.",
            [target(f"sum(rate({sel(req)}[5m]))", "req/s", instant=True)],
            unit="reqps",
        ),
        stat(
            "Error rate (5m)",
            "Share of requests answered with 5xx over 5 minutes. The high_error_rate alert fires above 5% "
            "(with at least 50 requests in 5 minutes).",
            [target(error_ratio_5m, "5xx", instant=True)],
            unit="percentunit",
            steps=[("green", None), ("orange", 0.02), ("red", 0.05)],
            decimals=2,
        ),
        stat(
            "p95 response time (5m)",
            "95th percentile of request duration over 5 minutes, all routes.",
            [
                target(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate({sel('askproai_http_request_duration_ms_bucket')}[5m])))",
                    "p95",
                    instant=True,
                )
            ],
            unit="ms",
            steps=[("green", None), ("orange", 500), ("red", 2000)],
        ),
        stat(
            "Active users (logins, 1h)",
            "Proxy for active users: successful customer portal logins in the last hour "
            "(askproai_portal_logins_total). The bundle has no active-user gauge; a user who stays logged in "
            "is not counted, one who logs in twice is counted twice.",
            [target(f"sum(increase({sel('askproai_portal_logins_total')}[1h]))", "logins", instant=True)],
            decimals=0,
        ),
        row("Traffic"),
        timeseries(
            "Request rate by route",
            "Requests per second by route (the API Gateway resource path), all statuses.",
            [target(f"sum by (route) (rate({sel(req)}[$__rate_interval]))", "{{route}}")],
            unit="reqps",
            stack=True,
        ),
        timeseries(
            "Error rate",
            "Share of requests answered with 5xx (askproai_http_requests_errors_total / "
            "askproai_http_requests_total), overall and by route. Red line: the 5% alert threshold.",
            [
                target(
                    f"(sum(rate({sel(err)}[$__rate_interval])) or vector(0)) / sum(rate({sel(req)}[$__rate_interval]))",
                    "all routes",
                ),
                target(
                    f"sum by (route) (rate({sel(err)}[$__rate_interval])) / "
                    f"sum by (route) (rate({sel(req)}[$__rate_interval]))",
                    "{{route}}",
                ),
            ],
            unit="percentunit",
            threshold=0.05,
        ),
        timeseries(
            "Response times (p50 / p95 / p99)",
            "Request duration percentiles from askproai_http_request_duration_ms (histogram, milliseconds), "
            "all routes. Percentiles are interpolated within buckets (5, 10, 25, 50, 100, 250, 500 ms, 1, 2.5, "
            "5, 10, 30 s).",
            quantiles("askproai_http_request_duration_ms"),
            unit="ms",
        ),
        timeseries(
            "p95 response time by route",
            "95th percentile of request duration per route.",
            quantiles("askproai_http_request_duration_ms", by="route")[1:2],
            unit="ms",
        ),
        timeseries(
            "Responses by status",
            "Requests per second by HTTP status.",
            [target(f"sum by (status) (rate({sel(req)}[$__rate_interval]))", "{{status}}")],
            unit="reqps",
            stack=True,
        ),
        timeseries(
            "Slow transactions (per minute)",
            "Transactions slower than the slow threshold, per minute, by transaction "
            "(askproai_slow_transactions_total).",
            [
                target(
                    f"60 * sum by (transaction) (rate({sel('askproai_slow_transactions_total')}[$__rate_interval]))",
                    "{{transaction}}",
                )
            ],
        ),
        timeseries(
            "Transaction p95 by transaction",
            "95th percentile of PerformanceMonitor transaction durations (askproai_transaction_duration_ms, "
            "histogram, milliseconds), by transaction name (stripe_webhook, ...).",
            quantiles("askproai_transaction_duration_ms", by="transaction")[1:2],
            unit="ms",
        ),
        timeseries(
            "Slow queries (per minute)",
            "MySQL queries over SLOW_QUERY_THRESHOLD_MS (100 ms by default) per minute "
            "(askproai_slow_queries_total); each is logged on the performance channel as a fingerprint.",
            [target(f"60 * sum(rate({sel('askproai_slow_queries_total')}[$__rate_interval]))", "slow queries / min")],
        ),
        row("Queues and users"),
        timeseries(
            "Queue sizes",
            "Messages waiting per SQS queue (ApproximateNumberOfMessages, sampled by the scheduled checks "
            "every minute). Red line: the health check's warning size (HEALTH_QUEUE_WARNING_SIZE, default 1000).",
            [target(f"max by (queue) ({sel('askproai_queue_size')})", "{{queue}}")],
            threshold=1000,
        ),
        timeseries(
            "Active users (portal logins per hour)",
            "Proxy for active users: successful portal logins in the preceding hour, and registrations. "
            "The catalog has no active-user gauge, so logins stand in for activity.",
            [
                target(f"sum(increase({sel('askproai_portal_logins_total')}[1h]))", "logins / h"),
                target(f"sum(increase({sel('askproai_portal_registrations_total')}[1h]))", "registrations / h"),
            ],
        ),
        row("Platform health"),
        timeseries(
            "Health checks",
            "Last result of each health check (askproai_health_check_status): 1 ok, 0.5 warning, 0 failed.",
            [target(f"max by (check) ({sel('askproai_health_check_status')})", "{{check}}")],
            minimum=0,
            maximum=1,
        ),
        timeseries(
            "Up",
            "Scrape success (up) and metric store readability (askproai_up) per target.",
            [
                target(sel("up"), "scrape {{instance}}"),
                target(sel("askproai_up"), "metric store {{instance}}"),
            ],
            minimum=0,
            maximum=1,
        ),
        timeseries(
            "Memory by function",
            "Resident and peak memory of the Python process of each Lambda function, as last reported by "
            "that function (askproai_php_memory_usage_bytes / askproai_php_memory_peak_bytes; the guide's "
            "php_memory names are kept).",
            [
                target(f"max by (function) ({sel('askproai_php_memory_usage_bytes')})", "{{function}}"),
                target(f"max by (function) ({sel('askproai_php_memory_peak_bytes')})", "{{function}} peak"),
            ],
            unit="bytes",
        ),
        timeseries(
            "Database connection failures (1m)",
            "Failed attempts to connect to MySQL in the preceding minute. Red line: the "
            "database_connection_failure alert (3 in 1 minute).",
            [
                target(
                    f"sum(increase({sel('askproai_database_connection_failures_total')}[1m]))",
                    "failures / 1m",
                )
            ],
            threshold=3,
        ),
        timeseries(
            "Alerts sent and failed deliveries (per hour)",
            "Alert notifications sent in the preceding hour, by alert type and channel (askproai_alerts_sent_total), "
            "and delivery attempts a channel failed (askproai_alert_delivery_failures_total; each is retried).",
            [
                target(
                    f"sum by (type, channel) (increase({sel('askproai_alerts_sent_total')}[1h]))",
                    "{{type}} via {{channel}}",
                ),
                target(
                    f"sum by (channel) (increase({sel('askproai_alert_delivery_failures_total')}[1h]))",
                    "{{channel}} failed",
                ),
            ],
        ),
        row("Alert quality (7 days)"),
        timeseries(
            "Times fired and pages sent, by rule",
            "Per alerting rule over the last 7 days (askproai_alert_rule_fired, askproai_alert_rule_pages; "
            "set every 15 minutes by ScheduledChecksFunction, GET /api/alerts/stats has 30 days too). A rule "
            "that pages far more often than it is acted on is a candidate for a higher threshold.",
            [
                target(f"max by (rule) ({sel('askproai_alert_rule_fired', WEEK)})", "{{rule}} fired"),
                target(f"max by (rule) ({sel('askproai_alert_rule_pages', WEEK)})", "{{rule}} pages"),
            ],
            width=8,
        ),
        timeseries(
            "Time to acknowledge and to resolve (p90), by rule",
            "p90 (nearest rank) of the time from an alert firing to its first acknowledgement and to its "
            "resolution, over the last 7 days (askproai_alert_rule_ack_seconds, askproai_alert_rule_resolve_seconds).",
            [
                target(
                    f"max by (rule) ({sel('askproai_alert_rule_ack_seconds', P90_7D)})",
                    "{{rule}} ack p90",
                ),
                target(
                    f"max by (rule) ({sel('askproai_alert_rule_resolve_seconds', P90_7D)})",
                    "{{rule}} resolve p90",
                ),
            ],
            unit="s",
            width=8,
        ),
        timeseries(
            "Flapping and false-positive candidates, by rule",
            "Episodes that fired again within the rule's throttle after resolving (flapping), and episodes "
            "resolved before anyone acknowledged them, over the last 7 days (askproai_alert_rule_flapping, "
            "askproai_alert_rule_resolved_unacknowledged). Both point at a threshold or window to tune.",
            [
                target(f"max by (rule) ({sel('askproai_alert_rule_flapping', WEEK)})", "{{rule}} flapping"),
                target(
                    f"max by (rule) ({sel('askproai_alert_rule_resolved_unacknowledged', WEEK)})",
                    "{{rule}} resolved unacknowledged",
                ),
            ],
            width=8,
        ),
        timeseries(
            "Dropped metric series (per hour)",
            "Series the metric store refused because a metric reached its series cap "
            "(askproai_metrics_dropped_series_total). Anything above 0 means a label has too many values.",
            [
                target(
                    f"sum by (metric) (increase({sel('askproai_metrics_dropped_series_total')}[1h]))",
                    "{{metric}}",
                )
            ],
        ),
    ]
    return dashboard(
        "askproai-system-overview",
        "AskProAI / System Overview",
        "Request rate, error rate, response times, queue sizes, active users, memory and health of the "
        "AskProAI monitoring bundle.",
        panels,
    )


# --------------------------------------------------------------------------------------------
# Stripe Integration: payment success rate, webhook processing time, failed payments, dispute
# rate, revenue metrics; plus webhook volume, refunds, subscriptions and Stripe API calls.
# --------------------------------------------------------------------------------------------
def stripe_integration() -> dict[str, Any]:
    hooks = "askproai_stripe_webhooks_total"
    fails = "askproai_payment_failures_total"
    succeeded = sel(hooks, PAYMENT_SUCCEEDED)

    def success_rate(window: str) -> str:
        ok = f"sum(increase({succeeded}[{window}]))"
        failed = f"(sum(increase({sel(fails)}[{window}])) or vector(0))"
        return f"{ok} / ({ok} + {failed})"

    def dispute_rate(window: str) -> str:
        return f"sum(increase({sel('askproai_disputes_total')}[{window}])) / sum(increase({succeeded}[{window}]))"

    revenue_desc = (
        "Revenue of succeeded payments (askproai_revenue_processed_cents_total) divided by 100, by currency. "
        "Dividing by 100 assumes two-decimal currencies; for zero-decimal currencies (JPY, KRW, ...) read "
        "the value times 100."
    )
    payment_desc = (
        "Successful payments are processed payment_intent.succeeded webhooks "
        '(askproai_stripe_webhooks_total{type="payment_intent.succeeded",status="processed"}); failed payments '
        "are askproai_payment_failures_total."
    )
    stripe = 'service="stripe"'
    failed_status = 'status="failed"'
    panels = [
        stat(
            "Payment success rate",
            "Share of payments that succeeded in the selected time range. " + payment_desc,
            [target(success_rate("$__range"), "success", instant=True)],
            unit="percentunit",
            steps=[("red", None), ("orange", 0.9), ("green", 0.97)],
            decimals=1,
        ),
        stat(
            "Failed payments",
            "Failed payments (payment intents and invoices) in the selected time range.",
            [target(f"sum(increase({sel(fails)}[$__range]))", "failed", instant=True)],
            steps=[("green", None), ("orange", 1)],
            decimals=0,
        ),
        stat(
            "Dispute rate",
            "Disputes opened per successful payment in the selected time range. " + payment_desc,
            [target(dispute_rate("$__range"), "disputes", instant=True)],
            unit="percentunit",
            steps=[("green", None), ("orange", 0.005), ("red", 0.0075)],
            decimals=2,
        ),
        stat(
            "Revenue",
            "Revenue in the selected time range, per currency. " + revenue_desc,
            [
                target(
                    f"sum by (currency) (increase({sel('askproai_revenue_processed_cents_total')}[$__range])) / 100",
                    "{{currency}}",
                    instant=True,
                )
            ],
            decimals=2,
        ),
        stat(
            "Subscriptions created",
            "Stripe subscriptions created in the selected time range (askproai_subscriptions_created_total).",
            [target(f"sum(increase({sel('askproai_subscriptions_created_total')}[$__range]))", "new", instant=True)],
            decimals=0,
        ),
        stat(
            "Webhook p95 (5m)",
            "95th percentile of Stripe webhook processing time over 5 minutes.",
            [
                target(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate({sel('askproai_stripe_webhook_duration_ms_bucket')}[5m])))",
                    "p95",
                    instant=True,
                )
            ],
            unit="ms",
            steps=[("green", None), ("orange", 1000), ("red", 5000)],
        ),
        row("Payments"),
        timeseries(
            "Payment success rate (1h rolling)",
            "Share of payments that succeeded over the preceding hour. " + payment_desc,
            [target(success_rate("1h"), "success rate")],
            unit="percentunit",
            maximum=1,
        ),
        timeseries(
            "Failed payments by reason (5m)",
            "Failed payments in the preceding 5 minutes, by failure reason. Red line: the payment_failure "
            "alert (3 in 5 minutes, all reasons together).",
            [
                target(f"sum by (reason) (increase({sel(fails)}[5m]))", "{{reason}}"),
                target(f"sum(increase({sel(fails)}[5m]))", "all reasons"),
            ],
            threshold=3,
        ),
        timeseries(
            "Dispute rate (24h rolling)",
            "Disputes opened per successful payment over the preceding 24 hours (card networks start to "
            "worry around 0.75%). " + payment_desc,
            [target(dispute_rate("1d"), "dispute rate")],
            unit="percentunit",
            threshold=0.0075,
        ),
        timeseries(
            "Disputes and refunds (per hour)",
            "Disputes opened (askproai_disputes_total) and charges refunded (askproai_refunds_total) in the "
            "preceding hour.",
            [
                target(f"sum(increase({sel('askproai_disputes_total')}[1h]))", "disputes / h"),
                target(f"sum(increase({sel('askproai_refunds_total')}[1h]))", "refunds / h"),
            ],
        ),
        row("Revenue"),
        timeseries(
            "Revenue per hour by currency",
            "Revenue of succeeded payments in the preceding hour, by currency. " + revenue_desc,
            [
                target(
                    f"sum by (currency) (increase({sel('askproai_revenue_processed_cents_total')}[1h])) / 100",
                    "{{currency}}",
                )
            ],
        ),
        timeseries(
            "Subscriptions created (per hour)",
            "Stripe subscriptions created in the preceding hour.",
            [target(f"sum(increase({sel('askproai_subscriptions_created_total')}[1h]))", "subscriptions / h")],
        ),
        row("Webhooks"),
        timeseries(
            "Webhook processing time (p50 / p95 / p99)",
            "Time the webhook processor spent on each Stripe event (askproai_stripe_webhook_duration_ms, "
            "histogram, milliseconds), from dequeue to done.",
            quantiles("askproai_stripe_webhook_duration_ms"),
            unit="ms",
        ),
        timeseries(
            "Webhook p95 by event type",
            "95th percentile of processing time per Stripe event type.",
            quantiles("askproai_stripe_webhook_duration_ms", by="type")[1:2],
            unit="ms",
        ),
        timeseries(
            "Webhooks by type and status",
            "Stripe webhook events processed per second, by event type and processing status.",
            [target(f"sum by (type, status) (rate({sel(hooks)}[$__rate_interval]))", "{{type}} {{status}}")],
            unit="ops",
            stack=True,
        ),
        timeseries(
            "Failed webhooks (5m)",
            "Webhook events that failed processing in the preceding 5 minutes. Red line: the "
            "stripe_webhook_failure alert (5 in 5 minutes).",
            [target(f"sum(increase({sel(hooks, failed_status)}[5m]))", "failed / 5m")],
            threshold=5,
        ),
        row("Reconciliation (events whose webhook never arrived)"),
        timeseries(
            "Recovered by reconciliation",
            "Stripe events found in the Events API that no webhook had delivered, processed by "
            "StripeReconciliationFunction (askproai_stripe_webhooks_recovered_total), per hour and type. "
            "Anything above zero raised stripe_events_missed: Stripe's deliveries are failing.",
            [
                target(
                    f"sum by (type) (increase({sel('askproai_stripe_webhooks_recovered_total')}[1h]))",
                    "{{type}}",
                )
            ],
            width=8,
            draw="bars",
        ),
        timeseries(
            "Reconciliation runs and Stripe requests",
            "Reconciliation runs per hour by outcome (ok; busy: another run held the lease; partial: "
            "some events failed and are retried by the next run) and the Events API requests they made.",
            [
                target(
                    f"sum by (outcome) (increase({sel('askproai_stripe_reconciliation_runs_total')}[1h]))",
                    "runs {{outcome}}",
                ),
                target(
                    f"sum(increase({sel('askproai_stripe_reconciliation_api_calls_total')}[1h]))",
                    "Events API requests",
                ),
            ],
            width=8,
        ),
        stat(
            "Reconciled up to",
            "How far behind the reconciliation checkpoint was at its last run "
            "(askproai_stripe_reconciliation_checkpoint_age_seconds): the settle time plus up to one "
            "schedule interval is normal; more means runs fail or stopped.",
            [target(f"max({sel('askproai_stripe_reconciliation_checkpoint_age_seconds')})", "", instant=True)],
            unit="s",
            width=8,
            height=8,
            steps=[("green", None), ("orange", 1800), ("red", 3600)],
        ),
        row("Silence (absence rules) and the Watchdog"),
        timeseries(
            "Last seen, by event type",
            "Seconds since the newest Stripe event of each type the processor handled was created "
            "(time() - askproai_stripe_event_last_seen_timestamp_seconds; type any: of any type). The "
            "absence rules page when it passes their window within their hours: payments_absent "
            "(payment_intent.succeeded, 1 hour, weekdays 08:00-22:00) and webhooks_absent (any, 30 minutes).",
            [
                target(
                    f"time() - max by (type) ({sel('askproai_stripe_event_last_seen_timestamp_seconds')})",
                    "{{type}}",
                )
            ],
            unit="s",
            width=12,
            threshold=1800,
        ),
        timeseries(
            "Watchdog heartbeats",
            "Pings of the outside dead-man URL per hour (askproai_watchdog_pings_total; WatchdogPingUrl): ok, "
            "fail (the run's checks errored; the dead-man service pages at once) and error (the ping itself "
            "failed). A run pings every minute; no pings at all means the scheduled checks stopped, which "
            "the dead-man service reports.",
            [target(f"sum by (outcome) (increase({sel('askproai_watchdog_pings_total')}[1h]))", "{{outcome}}")],
            width=8,
        ),
        stat(
            "Watched, never seen",
            "Seconds since the scheduled checks started watching an absence rule whose event type was never "
            "seen (askproai_absence_watch_started_timestamp_seconds; a new stage or an emptied metric "
            "store): the rule pages once this passes its window. Empty: every watched type was seen.",
            [
                target(
                    f"time() - max by (rule) ({sel('askproai_absence_watch_started_timestamp_seconds')})",
                    "{{rule}}",
                    instant=True,
                )
            ],
            unit="s",
            width=4,
            height=8,
        ),
        row("Card testing"),
        timeseries(
            "Card-testing signals",
            "Batches of Stripe events in which a card-testing pattern held, per hour and pattern "
            "(askproai_card_testing_signals_total): distinct_cards, decline_ratio, testing_codes "
            "(incorrect_cvc, incorrect_number, card_velocity_exceeded), small_amounts. Any raises "
            "card_testing_suspected (critical).",
            [
                target(
                    f"sum by (signal) (increase({sel('askproai_card_testing_signals_total')}[1h]))",
                    "{{signal}}",
                )
            ],
            width=12,
            draw="bars",
        ),
        timeseries(
            "Card-testing window",
            "The last 10 minutes of payment attempts as the detector counted them at its last evaluation "
            "(askproai_card_testing_window): attempts, declines, distinct cards among the declines, small "
            "declines. Many distinct cards with few successes is the pattern to fear.",
            [target(f"max by (measure) ({sel('askproai_card_testing_window')})", "{{measure}}")],
            width=12,
        ),
        row("Stripe API"),
        timeseries(
            "Stripe API calls and errors",
            "Calls to the Stripe API per second (askproai_external_api_calls_total) and failed calls "
            '(askproai_external_api_errors_total), service="stripe".',
            [
                target(f"sum(rate({sel('askproai_external_api_calls_total', stripe)}[$__rate_interval]))", "calls"),
                target(f"sum(rate({sel('askproai_external_api_errors_total', stripe)}[$__rate_interval]))", "errors"),
            ],
            unit="ops",
            width=8,
        ),
        timeseries(
            "Stripe API error ratio",
            "Failed Stripe API calls per call.",
            [
                target(
                    f"(sum(rate({sel('askproai_external_api_errors_total', stripe)}[$__rate_interval])) "
                    "or vector(0)) / "
                    f"sum(rate({sel('askproai_external_api_calls_total', stripe)}[$__rate_interval]))",
                    "error ratio",
                )
            ],
            unit="percentunit",
            width=8,
        ),
        timeseries(
            "Stripe API latency (p50 / p95 / p99)",
            "Duration of Stripe API calls (askproai_external_api_duration_ms, milliseconds).",
            quantiles("askproai_external_api_duration_ms", stripe),
            unit="ms",
            width=8,
        ),
    ]
    return dashboard(
        "askproai-stripe-integration",
        "AskProAI / Stripe Integration",
        "Payment success rate, webhook processing time, failed payments, dispute rate and revenue.",
        panels,
        time_from="now-24h",
    )


# --------------------------------------------------------------------------------------------
# Customer Portal: registration rate, login frequency, page load times, user actions, errors.
# --------------------------------------------------------------------------------------------
def customer_portal() -> dict[str, Any]:
    req = "askproai_http_requests_total"
    err = "askproai_http_requests_errors_total"
    portal = 'route=~"$portal_routes"'
    routes_note = (
        " Portal requests are the HTTP series whose route label matches the dashboard variable "
        f"portal_routes (default {PORTAL_ROUTES_DEFAULT}): the portal records its requests through the "
        "shared library with those routes."
    )
    actions = f'{portal},method!~"GET|HEAD|OPTIONS"'
    client_errors = f'{portal},status=~"4.."'
    panels = [
        stat(
            "Registrations",
            "Customer portal registrations in the selected time range (askproai_portal_registrations_total).",
            [target(f"sum(increase({sel('askproai_portal_registrations_total')}[$__range]))", "", instant=True)],
            decimals=0,
        ),
        stat(
            "Logins",
            "Successful customer portal logins in the selected time range (askproai_portal_logins_total).",
            [target(f"sum(increase({sel('askproai_portal_logins_total')}[$__range]))", "", instant=True)],
            decimals=0,
        ),
        stat(
            "Login success ratio",
            "Successful logins / (successful + failed logins) in the selected time range "
            "(askproai_failed_logins_total counts every failed login the platform reports).",
            [
                target(
                    f"sum(increase({sel('askproai_portal_logins_total')}[$__range])) / "
                    f"(sum(increase({sel('askproai_portal_logins_total')}[$__range])) + "
                    f"(sum(increase({sel('askproai_failed_logins_total')}[$__range])) or vector(0)))",
                    "",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=[("red", None), ("orange", 0.7), ("green", 0.9)],
            decimals=1,
        ),
        stat(
            "Page load p95 (5m)",
            "95th percentile of portal request duration over 5 minutes." + routes_note,
            [
                target(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate({sel('askproai_http_request_duration_ms_bucket', portal)}[5m])))",
                    "p95",
                    instant=True,
                )
            ],
            unit="ms",
            steps=[("green", None), ("orange", 1000), ("red", 3000)],
        ),
        stat(
            "Portal error rate (5m)",
            "Share of portal requests answered with 5xx over 5 minutes." + routes_note,
            [
                target(
                    f"(sum(rate({sel(err, portal)}[5m])) or vector(0)) / sum(rate({sel(req, portal)}[5m]))",
                    "5xx",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=[("green", None), ("orange", 0.02), ("red", 0.05)],
            decimals=2,
        ),
        stat(
            "User actions (5m)",
            "State-changing portal requests (not GET/HEAD/OPTIONS) per second over 5 minutes." + routes_note,
            [target(f"sum(rate({sel(req, actions)}[5m]))", "actions/s", instant=True)],
            unit="reqps",
        ),
        row("Sign-ups and logins"),
        timeseries(
            "Registration rate (per hour)",
            "Customer portal registrations in the preceding hour.",
            [target(f"sum(increase({sel('askproai_portal_registrations_total')}[1h]))", "registrations / h")],
        ),
        timeseries(
            "Login frequency (per hour)",
            "Successful portal logins and failed logins in the preceding hour.",
            [
                target(f"sum(increase({sel('askproai_portal_logins_total')}[1h]))", "logins / h"),
                target(f"sum(increase({sel('askproai_failed_logins_total')}[1h]))", "failed logins / h"),
            ],
        ),
        row("Page load times"),
        timeseries(
            "Page load times (p50 / p95 / p99)",
            "Server-side duration of portal requests (askproai_http_request_duration_ms). This is the time "
            "to answer the request, not the browser's full page load." + routes_note,
            quantiles("askproai_http_request_duration_ms", portal),
            unit="ms",
        ),
        timeseries(
            "p95 by portal route",
            "95th percentile of request duration per portal route." + routes_note,
            quantiles("askproai_http_request_duration_ms", portal, by="route")[1:2],
            unit="ms",
        ),
        row("User actions and errors"),
        timeseries(
            "User actions by route",
            "State-changing portal requests (POST, PUT, PATCH, DELETE) per second, by route and method." + routes_note,
            [
                target(
                    f"sum by (route, method) (rate({sel(req, actions)}[$__rate_interval]))",
                    "{{method}} {{route}}",
                )
            ],
            unit="reqps",
            stack=True,
        ),
        timeseries(
            "Portal requests by route",
            "All portal requests per second, by route." + routes_note,
            [target(f"sum by (route) (rate({sel(req, portal)}[$__rate_interval]))", "{{route}}")],
            unit="reqps",
            stack=True,
        ),
        timeseries(
            "Server errors (5xx) by route",
            "Portal requests answered with 5xx per second, by route and status "
            "(askproai_http_requests_errors_total)." + routes_note,
            [
                target(
                    f"sum by (route, status) (rate({sel(err, portal)}[$__rate_interval]))",
                    "{{status}} {{route}}",
                )
            ],
            unit="reqps",
        ),
        timeseries(
            "Client errors (4xx) by status",
            "Portal requests answered with 4xx per second, by status (401/403 often mean expired sessions)."
            + routes_note,
            [
                target(
                    f"sum by (status) (rate({sel(req, client_errors)}[$__rate_interval]))",
                    "{{status}}",
                )
            ],
            unit="reqps",
        ),
    ]
    portal_variable = {
        "name": "portal_routes",
        "label": "Portal routes (regex)",
        "type": "textbox",
        "query": PORTAL_ROUTES_DEFAULT,
        "current": {"selected": False, "text": PORTAL_ROUTES_DEFAULT, "value": PORTAL_ROUTES_DEFAULT},
        "options": [{"selected": True, "text": PORTAL_ROUTES_DEFAULT, "value": PORTAL_ROUTES_DEFAULT}],
        "hide": 0,
    }
    return dashboard(
        "askproai-customer-portal",
        "AskProAI / Customer Portal",
        "Registration rate, login frequency, page load times, user actions and error tracking for the customer portal.",
        panels,
        variables=[portal_variable],
        time_from="now-24h",
    )


# --------------------------------------------------------------------------------------------
# Security: failed login attempts, blocked IPs, rate limit violations, suspicious activities,
# security trends.
# --------------------------------------------------------------------------------------------
def security() -> dict[str, Any]:
    events = "askproai_security_events_total"
    breach = f'type=~"{BREACH_TYPES}"'
    security_alerts = 'type="security_breach_attempt"'
    panels = [
        stat(
            "Failed logins",
            "Failed login attempts in the selected time range (askproai_failed_logins_total).",
            [target(f"sum(increase({sel('askproai_failed_logins_total')}[$__range]))", "", instant=True)],
            decimals=0,
        ),
        stat(
            "IPs blocked (24h)",
            "IPs blocked in the last 24 hours (askproai_blocked_ips_total). Blocks last 24 hours, so this "
            "approximates the IPs blocked right now (manual unblocks aside; GET /api/security/blocks lists them).",
            [target(f"sum(increase({sel('askproai_blocked_ips_total')}[1d]))", "", instant=True)],
            decimals=0,
            steps=[("green", None), ("orange", 1), ("red", 20)],
        ),
        stat(
            "Rate limit violations",
            "Rate limit violations in the selected time range (askproai_rate_limit_violations_total).",
            [target(f"sum(increase({sel('askproai_rate_limit_violations_total')}[$__range]))", "", instant=True)],
            decimals=0,
        ),
        stat(
            "Breach attempts (1m)",
            "Failed logins, privilege escalations and suspicious activities reported as security events in the "
            "last minute. The security_breach_attempt alert fires at 5.",
            [target(f"sum(increase({sel(events, breach)}[1m]))", "", instant=True)],
            steps=[("green", None), ("orange", 3), ("red", 5)],
            decimals=0,
        ),
        stat(
            "Security events",
            "Security events received in the selected time range, all types (askproai_security_events_total).",
            [target(f"sum(increase({sel(events)}[$__range]))", "", instant=True)],
            decimals=0,
        ),
        stat(
            "Security alerts sent",
            "security_breach_attempt alert notifications sent in the selected time range, all channels.",
            [
                target(
                    f"sum(increase({sel('askproai_alerts_sent_total', security_alerts)}[$__range]))",
                    "",
                    instant=True,
                )
            ],
            decimals=0,
        ),
        row("Attempts and blocks"),
        timeseries(
            "Failed login attempts (15m)",
            "Failed login attempts in the preceding 15 minutes, all IPs together. An IP is blocked after 5 in "
            "15 minutes (per IP; this panel is the sum over IPs).",
            [target(f"sum(increase({sel('askproai_failed_logins_total')}[15m]))", "failed logins / 15m")],
        ),
        timeseries(
            "Blocked IPs (per hour)",
            "IP addresses blocked in the preceding hour (automatic blocks after repeated failed logins, "
            "security events or rate limit violations, and manual blocks).",
            [target(f"sum(increase({sel('askproai_blocked_ips_total')}[1h]))", "IPs blocked / h")],
        ),
        timeseries(
            "Rate limit violations (per minute)",
            "Rate limit violations per minute (askproai_rate_limit_violations_total).",
            [
                target(
                    f"60 * sum(rate({sel('askproai_rate_limit_violations_total')}[$__rate_interval]))",
                    "violations / min",
                )
            ],
        ),
        timeseries(
            "Breach attempts (1m)",
            "Security events of the breach types (failed_login, privilege_escalation, suspicious_activity) in "
            "the preceding minute. Red line: the security_breach_attempt alert (5 in 1 minute).",
            [target(f"sum(increase({sel(events, breach)}[1m]))", "attempts / 1m")],
            threshold=5,
        ),
        timeseries(
            "Failed authentications (5m)",
            "Wrong or missing secrets and bad signatures on the bundle's own routes in the preceding 5 minutes "
            "(askproai_failed_authentications_total), all IPs together. An IP is blocked after 10 in 5 minutes "
            "(per IP; Stripe's webhook senders and the allowlist never are).",
            [
                target(
                    f"sum(increase({sel('askproai_failed_authentications_total')}[5m]))", "failed authentications / 5m"
                )
            ],
        ),
        timeseries(
            "WAF IP sets",
            "Addresses in the WAF blocked IP sets at the edge updater's last run, and the active blocks that did "
            "not fit (10,000 per set: those are enforced by IpGuard only; WafBlocksLeftOutAlarm).",
            [
                target(f"sum by (ip_version) ({sel('askproai_waf_blocked_addresses')})", "blocked {{ip_version}}"),
                target(f"sum by (ip_version) ({sel('askproai_waf_blocks_left_out')})", "left out {{ip_version}}"),
            ],
        ),
        row("Suspicious activities"),
        timeseries(
            "Security events by type (per 5m)",
            "Security events received in the preceding 5 minutes, by type (failed_login, suspicious_activity, "
            "privilege_escalation, api_key_usage, large_data_export, rate_limit_exceeded, ...).",
            [target(f"sum by (type) (increase({sel(events)}[5m]))", "{{type}}")],
            stack=True,
            width=24,
        ),
        row("Security trends"),
        timeseries(
            "Security events per hour by type",
            "Security events per hour by type; set the time range to 7 or 30 days to see the trend.",
            [target(f"sum by (type) (increase({sel(events)}[1h]))", "{{type}}")],
            stack=True,
        ),
        timeseries(
            "Security events: last 24 h vs the same 24 h a week before",
            "All security events in the preceding 24 hours, next to the same window one week earlier.",
            [
                target(f"sum(increase({sel(events)}[1d]))", "last 24 h"),
                target(f"sum(increase({sel(events)}[1d] offset 1w))", "a week before"),
            ],
        ),
        timeseries(
            "Failed logins, blocks and rate-limit violations per day",
            "Daily totals (rolling 24 hours) of the three security counters.",
            [
                target(f"sum(increase({sel('askproai_failed_logins_total')}[1d]))", "failed logins / 24h"),
                target(f"sum(increase({sel('askproai_blocked_ips_total')}[1d]))", "IPs blocked / 24h"),
                target(
                    f"sum(increase({sel('askproai_rate_limit_violations_total')}[1d]))",
                    "rate limit violations / 24h",
                ),
            ],
            width=24,
        ),
    ]
    return dashboard(
        "askproai-security",
        "AskProAI / Security",
        "Failed login attempts, blocked IPs, rate limit violations, suspicious activities and security trends.",
        panels,
        time_from="now-24h",
    )


# --------------------------------------------------------------------------------------------
# SLOs: one row per SLO of prometheus/slos.yaml, over the series its generated recording rules
# write (prometheus/rules/slos.yml): the error budget left and the burn rates the alerts read.
# --------------------------------------------------------------------------------------------
def _slo_generator() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "scripts" / "generate_slo_rules.py"
    spec = importlib.util.spec_from_file_location("generate_slo_rules", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses resolve their module while being defined
    spec.loader.exec_module(module)
    return module


def slos() -> dict[str, Any]:
    generator = _slo_generator()
    config = generator.load()
    ratio = generator.ERROR_RATIO
    burn_windows = [w for w in config.windows if w != generator.BASE_WINDOW] + [config.period]
    panels: list[Panel] = []
    for slo in config.slos:
        matchers = f'slo="{slo.name}"'
        budget = f"{slo.error_budget:g}"
        objective = f"{slo.objective * 100:g}%"
        panels += [
            row(f"{slo.title}: {objective} over {config.period}"),
            stat(
                "Error budget left",
                f"{slo.description} Share of the {config.period} error budget ({budget} of all events) not yet "
                "spent: 100% untouched, 0% spent, below 0 overspent (the mean of the 5-minute error ratio "
                f"over {config.period}, as slo:error_budget_remaining:ratio records it).",
                [target(sel(generator.BUDGET_REMAINING, matchers), "{{job}}", instant=True)],
                unit="percentunit",
                width=4,
                height=8,
                steps=[("red", None), ("orange", 0), ("green", 0.25)],
                decimals=1,
            ),
            stat(
                f"SLI over {config.period}",
                f"Share of good events over {config.period}; the objective is {objective}.",
                [target(f"1 - {sel(ratio + config.period, matchers)}", "{{job}}", instant=True)],
                unit="percentunit",
                width=4,
                height=8,
                steps=[("red", None), ("green", slo.objective)],
                decimals=3,
            ),
            timeseries(
                "Burn rate",
                "Error ratio divided by the error budget, per window: 1x spends the budget in exactly "
                f"{config.period}. Pages when 1h and 5m exceed 14.4x or 6h and 30m exceed 6x; opens a ticket "
                "when 1d and 2h exceed 3x or 3d and 6h exceed 1x (docs/slos.md).",
                [target(f"{sel(ratio + window, matchers)} / {budget}", window) for window in burn_windows],
                width=8,
                height=8,
                threshold=1,
            ),
            timeseries(
                "Error budget left over time",
                f"slo:error_budget_remaining:ratio over the dashboard's range: how fast the {config.period} "
                "budget is being spent.",
                [target(sel(generator.BUDGET_REMAINING, matchers), "{{job}}")],
                unit="percentunit",
                width=8,
                height=8,
                minimum=None,
                maximum=1,
            ),
        ]
    return dashboard(
        "askproai-slos",
        "AskProAI / SLOs",
        "Service level objectives (prometheus/slos.yaml): error budget left and burn rates, per SLO.",
        panels,
        time_from="now-7d",
    )


DASHBOARDS = {
    "system-overview.json": system_overview,
    "stripe-integration.json": stripe_integration,
    "customer-portal.json": customer_portal,
    "security.json": security,
    "slos.json": slos,
}


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed."""
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (DASHBOARD_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {DASHBOARD_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
