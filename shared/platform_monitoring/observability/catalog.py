"""Every Prometheus series the bundle exposes: name, type, help, labels, buckets.

The one list that the metric store, the /api/metrics endpoint, the dashboards and the
alert rules agree on. Names are the guide's (prefix `askproai_`); what the guide names
`php_memory` reports the Python process of the Lambda function that last wrote it.

Counters are declared without `_total` and exposed with it, as prometheus_client does:
`askproai_revenue_processed_cents` is scraped as `askproai_revenue_processed_cents_total`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram"]


PREFIX = "askproai_"


# Milliseconds; dense enough below a second for p50/p95/p99 of API and webhook timings.
DURATION_BUCKETS_MS = (5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    # Label sets exposed at 0 before their first event, so increase() sees that first event.
    seeds: tuple[tuple[str, ...], ...] = ()

    @property
    def exposed_name(self) -> str:
        """The sample name a scrape shows (counters gain `_total`)."""
        if self.type == "counter" and not self.name.endswith("_total"):
            return self.name + "_total"
        return self.name


def _counter(name: str, help_text: str, *labels: str) -> MetricSpec:
    # prometheus_client appends `_total` itself; declare the base name.
    base = name.removesuffix("_total")
    return MetricSpec(PREFIX + base, "counter", help_text, labels)


def _gauge(name: str, help_text: str, *labels: str) -> MetricSpec:
    return MetricSpec(PREFIX + name, "gauge", help_text, labels)


def _histogram(name: str, help_text: str, *labels: str) -> MetricSpec:
    return MetricSpec(PREFIX + name, "histogram", help_text, labels, DURATION_BUCKETS_MS)


CATALOG: tuple[MetricSpec, ...] = (
    # System
    _gauge("up", "1 while the metrics endpoint can read the metric store"),
    _gauge("php_memory_usage_bytes", "Resident memory of the function's Python process", "function"),
    _gauge("php_memory_peak_bytes", "Peak resident memory of the function's Python process", "function"),
    # HTTP
    _counter("http_requests_total", "HTTP requests served by the bundle's API", "route", "method", "status"),
    _histogram("http_request_duration_ms", "HTTP request duration in milliseconds", "route", "method"),
    _counter("http_requests_errors_total", "HTTP requests answered with status 5xx", "route", "method", "status"),
    # Queue
    _gauge("queue_size", "Messages waiting in a queue (SQS ApproximateNumberOfMessages)", "queue"),
    # Business
    _counter("subscriptions_created_total", "Stripe subscriptions created"),
    _counter("revenue_processed_cents", "Revenue of succeeded payments, in the currency's minor unit", "currency"),
    _counter("portal_registrations_total", "Customer portal registrations"),
    _counter("portal_logins_total", "Successful customer portal logins"),
    _counter("payment_failures_total", "Failed payments (payment intents and invoices)", "reason"),
    _counter("disputes_total", "Charge disputes opened"),
    _counter("refunds_total", "Charges refunded"),
    _counter("stripe_webhooks_total", "Stripe webhook events processed", "type", "status"),
    _counter(
        "stripe_webhooks_recovered_total",
        "Stripe events whose delivery never arrived, processed from the Events API by reconciliation",
        "type",
    ),
    _counter("stripe_reconciliation_runs_total", "Stripe reconciliation runs by outcome", "outcome"),
    _counter("stripe_reconciliation_api_calls_total", "Stripe Events API requests made by reconciliation"),
    _gauge(
        "stripe_reconciliation_checkpoint_age_seconds",
        "Seconds between now and the point up to which Stripe's events were reconciled, at the last run",
    ),
    _histogram("stripe_webhook_duration_ms", "Stripe webhook processing time in milliseconds", "type"),
    _gauge(
        "stripe_event_last_seen_timestamp_seconds",
        "When the newest Stripe event of a type the processor handled was created (epoch seconds; "
        "type=any: of any type); the absence rules read it",
        "type",
    ),
    _gauge(
        "absence_watch_started_timestamp_seconds",
        "When the scheduled checks first watched an absence rule whose event type was never seen",
        "rule",
    ),
    _counter(
        "card_testing_signals_total",
        "Card-testing signals the webhook processor saw hold in its window (each evaluation that held)",
        "signal",
    ),
    _gauge(
        "card_testing_window",
        "The payment attempts in the card-testing window at the last evaluation, by measure",
        "measure",
    ),
    _counter("watchdog_pings_total", "Heartbeats the scheduled checks sent to the outside dead-man URL", "outcome"),
    # Security
    _counter("failed_logins_total", "Failed login attempts"),
    _counter("blocked_ips_total", "IP addresses blocked"),
    _counter("rate_limit_violations_total", "Rate limit violations"),
    _counter(
        "failed_authentications_total",
        "Wrong or missing secrets and signatures on the bundle's own routes (failed_authentication events)",
    ),
    _gauge(
        "waf_blocked_addresses", "Addresses in the WAF blocked IP set, at the edge updater's last run", "ip_version"
    ),
    _gauge(
        "waf_blocks_left_out",
        "Active blocks the WAF IP set had no room for (10,000 each): enforced by IpGuard only",
        "ip_version",
    ),
    MetricSpec(
        PREFIX + "security_events",
        "counter",
        "Security events received",
        ("type",),
        seeds=tuple(
            (kind,)
            for kind in (
                "failed_login",
                "login",
                "registration",
                "suspicious_activity",
                "api_key_usage",
                "privilege_escalation",
                "large_data_export",
                "rate_limit_violation",
                "failed_authentication",
            )
        ),
    ),
    # External APIs
    _counter("external_api_calls_total", "Calls to external APIs", "service"),
    _counter("external_api_errors_total", "Failed calls to external APIs", "service"),
    _histogram("external_api_duration_ms", "External API call duration in milliseconds", "service"),
    # Performance and the bundle itself
    _histogram("transaction_duration_ms", "PerformanceMonitor transaction duration in milliseconds", "transaction"),
    _counter("slow_transactions_total", "Transactions slower than the slow threshold", "transaction"),
    _counter("slow_queries_total", "MySQL queries slower than the slow query threshold"),
    _counter("database_connection_failures_total", "Failed attempts to connect to MySQL"),
    _gauge("health_check_status", "Last health check result: 1 ok, 0.5 warning, 0 failed", "check"),
    _counter("alerts_sent_total", "Alert notifications sent", "type", "channel"),
    _counter("alert_delivery_failures_total", "Alert deliveries a channel failed (each attempt)", "channel"),
    # Alert quality (alerting/quality.py), per rule over window 7d and 30d; set every 15 minutes by
    # ScheduledChecksFunction, not per scrape (the figures are DynamoDB queries; a scrape reads Redis only).
    _gauge("alert_rule_fired", "Times the rule fired (episodes started) in the window", "rule", "window"),
    _gauge("alert_rule_pages", "Firing notifications of the rule that reached someone in the window", "rule", "window"),
    _gauge("alert_rule_flapping", "Episodes that fired again within the throttle after resolving", "rule", "window"),
    _gauge(
        "alert_rule_resolved_unacknowledged",
        "Episodes resolved before anyone acknowledged them (false-positive candidates)",
        "rule",
        "window",
    ),
    _gauge("alert_rule_ack_seconds", "Time to acknowledge in seconds, stat median or p90", "rule", "window", "stat"),
    _gauge("alert_rule_resolve_seconds", "Time to resolve in seconds, stat median or p90", "rule", "window", "stat"),
    _counter(
        "metrics_dropped_series_total",
        "New series refused because a metric reached its cap (once per refused series per invocation)",
        "metric",
    ),
)


BY_NAME = {spec.name: spec for spec in CATALOG}


def spec(name: str) -> MetricSpec:
    """Look a metric up by its declared name, with or without the `askproai_` prefix."""
    full = name if name.startswith(PREFIX) else PREFIX + name
    return BY_NAME[full.removesuffix("_total") if full.removesuffix("_total") in BY_NAME else full]
