"""A seeded week for the reports (fixed clock): critical alert episodes, security activity and
blocks, and a metric store snapshot, as the reports' sources."""

from __future__ import annotations

from collections.abc import Mapping

from platform_monitoring.alerting.store import Episode
from platform_monitoring.observability.catalog import spec
from platform_monitoring.observability.store import MetricBuffer
from platform_monitoring.security.review import SecurityActivity
from platform_monitoring.security.rules import Block

from tests.support.clock import T0
from tests.support.fakes import InMemoryAlertStore, InMemoryMetricBackend

NOW_MS = int(T0 * 1000)  # 2026-11-29T10:00:00Z
HOUR_MS = 3_600_000


def seeded_alert_store() -> InMemoryAlertStore:
    store = InMemoryAlertStore()
    day_ago = NOW_MS - 24 * HOUR_MS
    store.episode_items = {
        "a": Episode(
            "payment_failure",
            "payment_failure",
            day_ago + 2 * HOUR_MS,
            day_ago + 2 * HOUR_MS + 240_000,
            day_ago + 3 * HOUR_MS,
        ),
        "b": Episode(
            "payment_failure", "payment_failure", day_ago + 9 * HOUR_MS, None, day_ago + 9 * HOUR_MS + 300_000
        ),
        "c": Episode("database_connection_failure", "database_connection_failure", NOW_MS - HOUR_MS),
        "old": Episode("payment_failure", "payment_failure", day_ago - HOUR_MS, None, day_ago),  # before the day
        "high": Episode("stripe_dispute", "stripe_dispute", NOW_MS - HOUR_MS),  # not critical
    }
    return store


class SeededSecurityLogs:
    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    def activity(self, since_ms: int, until_ms: int) -> SecurityActivity:
        self.asked.append((since_ms, until_ms))
        return SecurityActivity(
            by_type={"failed_login": 42, "login": 310, "privilege_escalation": 2, "rate_limit_violation": 7},
            failed_logins_by_day={"2026-11-23": 3, "2026-11-25": 30, "2026-11-28": 9},
            top_sources=[("203.0.113.9", 31), ("198.51.100.4", 12), ("192.0.2.1", 5)],
            new_types=["privilege_escalation"],
            new_sources=["203.0.113.9"],
        )


class SeededBlocks:
    def blocks_since(self, since_ms: int) -> list[Block]:
        return [
            Block("203.0.113.9", NOW_MS - 72 * HOUR_MS + 86_400_000, NOW_MS - 72 * HOUR_MS, "failed_logins", "rule"),
            Block("198.51.100.4", NOW_MS + HOUR_MS, NOW_MS - 23 * HOUR_MS, "manual", "oncall", offences=2),
        ]


def seeded_snapshot() -> Mapping[str, Mapping[str, float]]:
    """The metric store after a month: written through the recorder's own buffer and fake backend."""
    buffer, backend = MetricBuffer(), InMemoryMetricBackend()
    buffer.inc("http_requests_total", 9_800, route="/api/health", method="GET", status="200")
    buffer.inc("http_requests_total", 200, route="/api/events", method="POST", status="500")
    buffer.inc("http_requests_errors_total", 200, route="/api/events", method="POST", status="500")
    buffer.inc("slow_transactions_total", 4, transaction="stripe.webhook")
    buffer.inc("slow_queries_total", 11)
    buffer.inc("external_api_calls_total", 500, service="stripe")
    buffer.inc("external_api_errors_total", 5, service="stripe")
    for value in (40.0,) * 90 + (900.0,) * 10:
        buffer.observe("external_api_duration_ms", value, service="stripe")
    for value in (20.0,) * 95 + (3000.0,) * 5:
        buffer.observe("stripe_webhook_duration_ms", value, type="payment_intent.succeeded")
    for value in (200.0,) * 50 + (1500.0,) * 50:
        buffer.observe("transaction_duration_ms", value, transaction="stripe.webhook")
    backend.apply(buffer.drain(), 2000)
    snapshot = backend.snapshot()
    assert snapshot[spec("slow_queries_total").name]
    return snapshot
