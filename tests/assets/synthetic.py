"""A synthetic exposition of every series in catalog.py, and a small bearer-protected HTTP server for it.

The exposition is rendered by prometheus_client from MetricFamily objects (as a custom collector
does, so no `_created` series), with realistic label values: the routes of the bundle's API and
of the customer portal, the guide's queues, health checks, alert types, Stripe event types and
security event types. Every scrape advances the counters and observes the histograms, so rate(),
increase() and histogram_quantile() have something to compute and the count-based alert rules
fire on a real server.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from platform_monitoring.observability.catalog import CATALOG, MetricSpec
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

# Label values by label name, and by (metric, label) where a label means different things.
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "function": ("HealthFunction", "MetricsFunction", "WebhookProcessorFunction"),
    "route": (
        "/api/health",
        "/api/metrics",
        "/api/webhooks/stripe",
        "/api/events",
        "/portal/login",
        "/api/portal/invoices",
    ),
    "method": ("GET", "POST"),
    "status": ("200", "404", "500"),
    "queue": ("default", "webhooks", "stripe"),
    "currency": ("usd", "eur"),
    "reason": ("card_declined", "insufficient_funds"),
    "service": ("stripe",),
    "transaction": ("stripe.webhook", "portal.login"),
    "check": ("database", "redis", "stripe_api", "queues", "disk", "memory"),
    "channel": ("email", "slack", "sms"),
    "metric": ("askproai_http_requests_total",),
    "rule": ("payment_failure", "security_breach_attempt", "queue_backlog"),
    "window": ("7d", "30d"),
    "stat": ("median", "p90"),
    "ip_version": ("ipv4", "ipv6"),
}
STRIPE_EVENT_TYPES = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "invoice.payment_failed",
    "charge.dispute.created",
    "customer.subscription.created",
)
PER_METRIC_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("askproai_http_requests_errors", "status"): ("500", "503"),
    ("askproai_stripe_webhooks", "type"): STRIPE_EVENT_TYPES,
    ("askproai_stripe_webhooks", "status"): ("processed", "failed"),
    ("askproai_stripe_webhooks_recovered", "type"): STRIPE_EVENT_TYPES,
    ("askproai_stripe_reconciliation_runs", "outcome"): ("ok", "partial", "busy"),
    ("askproai_stripe_webhook_duration_ms", "type"): STRIPE_EVENT_TYPES,
    ("askproai_stripe_event_last_seen_timestamp_seconds", "type"): (*STRIPE_EVENT_TYPES, "any"),
    ("askproai_absence_watch_started_timestamp_seconds", "rule"): ("payments_absent", "webhooks_absent"),
    ("askproai_card_testing_signals", "signal"): ("distinct_cards", "decline_ratio", "testing_codes", "small_amounts"),
    ("askproai_card_testing_window", "measure"): ("attempts", "declines", "distinct_cards", "small_declines"),
    ("askproai_watchdog_pings", "outcome"): ("ok", "fail", "error"),
    ("askproai_security_events", "type"): (
        "failed_login",
        "privilege_escalation",
        "suspicious_activity",
        "api_key_usage",
        "large_data_export",
        "rate_limit_exceeded",
        "failed_authentication",
    ),
    ("askproai_alerts_sent", "type"): ("payment_failure", "security_breach_attempt", "high_error_rate"),
}
GAUGE_VALUES = {
    "askproai_up": 1.0,
    "askproai_php_memory_usage_bytes": 64e6,
    "askproai_php_memory_peak_bytes": 96e6,
    "askproai_queue_size": 3.0,
    "askproai_health_check_status": 1.0,
}
# Observations per series per scrape, spread over the buckets (milliseconds).
OBSERVATIONS_MS = (3.0, 40.0, 180.0, 700.0)


def label_values(spec: MetricSpec, label: str) -> tuple[str, ...]:
    try:
        return PER_METRIC_VALUES.get((spec.name, label)) or LABEL_VALUES[label]
    except KeyError:
        raise KeyError(f"no synthetic values for label {label!r} of {spec.name}; add them to LABEL_VALUES") from None


def label_sets(spec: MetricSpec) -> list[tuple[str, ...]]:
    return list(itertools.product(*(label_values(spec, label) for label in spec.labels)))


class SyntheticCollector(Collector):
    """Every catalog series; `advance()` moves counters and histograms on by one scrape's worth."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ticks = 0

    def advance(self) -> None:
        with self._lock:
            self._ticks += 1

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        with self._lock:
            ticks = self._ticks
        for spec in CATALOG:
            labels = list(spec.labels)
            if spec.type == "counter":
                counter = CounterMetricFamily(spec.name, spec.help, labels=labels)
                for values in label_sets(spec):
                    counter.add_metric(list(values), float(ticks))
                yield counter
            elif spec.type == "gauge":
                gauge = GaugeMetricFamily(spec.name, spec.help, labels=labels)
                for values in label_sets(spec):
                    gauge.add_metric(list(values), GAUGE_VALUES.get(spec.name, 1.0))
                yield gauge
            else:
                histogram = HistogramMetricFamily(spec.name, spec.help, labels=labels)
                for values in label_sets(spec):
                    histogram.add_metric(list(values), _buckets(spec, ticks), ticks * sum(OBSERVATIONS_MS))
                yield histogram


def _buckets(spec: MetricSpec, ticks: int) -> list[tuple[str, float]]:
    out = [(str(bound), float(ticks * sum(1 for obs in OBSERVATIONS_MS if obs <= bound))) for bound in spec.buckets]
    out.append(("+Inf", float(ticks * len(OBSERVATIONS_MS))))
    return out


def registry_with(collector: SyntheticCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(ticks: int = 1) -> bytes:
    """The text exposition after `ticks` scrapes."""
    collector = SyntheticCollector()
    for _ in range(ticks):
        collector.advance()
    return generate_latest(registry_with(collector))


@contextlib.contextmanager
def serve_exposition(bearer_token: str, path: str = "/api/metrics") -> Iterator[str]:
    """Serve the exposition at http://127.0.0.1:<free port><path> behind `Authorization: Bearer`.

    Yields host:port. A request without the right token gets 401, as the real endpoint answers.
    """
    collector = SyntheticCollector()
    registry = registry_with(collector)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != path:
                self._answer(404, b'{"error": {"code": "not_found", "message": "no such route"}}', "application/json")
                return
            if self.headers.get("Authorization") != f"Bearer {bearer_token}":
                self._answer(401, b'{"error": {"code": "unauthorized", "message": "bad secret"}}', "application/json")
                return
            collector.advance()
            self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="synthetic-metrics", daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
