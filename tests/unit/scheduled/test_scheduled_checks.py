"""ScheduledChecks on fakes: gauges, the clock rules (database probes, queue backlog, error rate), resolving."""

from __future__ import annotations

from typing import Any

import pytest
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.health.service import CheckOutcome, CheckStatus, HealthCheckService
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.scheduled.checks import ScheduledChecks, http_totals

from tests.support.alerting import published, service
from tests.support.clock import Clock
from tests.support.fakes import InMemoryAlertStore, InMemoryMetricBackend, RecordingPublisher
from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext

OK, WARNING, FAILED = CheckStatus.OK, CheckStatus.WARNING, CheckStatus.FAILED


class Check:
    def __init__(self, name: str, status: CheckStatus = OK, meta: dict[str, Any] | None = None) -> None:
        self.name, self.critical, self.status, self.meta = name, name in ("database", "redis"), status, meta
        self.runs = 0

    def run(self, timeout: float) -> CheckOutcome:
        self.runs += 1
        return CheckOutcome(self.status, f"{self.name} is {self.status.value}", self.meta)


class Probe:
    """The database, probed again: answers from a script of statuses."""

    def __init__(self, *statuses: CheckStatus) -> None:
        self.statuses = list(statuses)
        self.name, self.critical = "database", True

    def run(self, timeout: float) -> CheckOutcome:
        return CheckOutcome(self.statuses.pop(0), "Database connection failed: Connection refused")


class Totals:
    def __init__(self) -> None:
        self.requests, self.errors = 0.0, 0.0

    def __call__(self) -> dict[str, float]:
        return {"requests": self.requests, "errors": self.errors}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def alerting(clock: Clock, publisher: RecordingPublisher) -> AlertingService:
    return service(InMemoryAlertStore(), publisher, clock)


def scheduled(
    alerting: AlertingService,
    database: CheckStatus = OK,
    queues: dict[str, int] | None = None,
    probe: Probe | None = None,
    totals: Totals | None = None,
) -> tuple[ScheduledChecks, list[float]]:
    checks = [
        Check("database", database),
        Check("redis"),
        Check("queues", OK, queues if queues is not None else {"default": 0, "webhooks": 3, "stripe": 0}),
        Check("disk"),
    ]
    sleeps: list[float] = []
    return (
        ScheduledChecks(
            HealthCheckService(checks, timeout=1.0),
            alerting,
            recorder,
            database_probe=probe,
            metric_totals=totals,
            sleep=sleeps.append,
        ),
        sleeps,
    )


def test_a_healthy_run_records_the_gauges_and_alerts_nobody(
    alerting: AlertingService, publisher: RecordingPublisher, metric_store: InMemoryMetricBackend
) -> None:
    checks, _ = scheduled(alerting)
    run = checks.run(budget=50)
    assert run.health == "healthy"
    assert run.checks == {"database": "ok", "redis": "ok", "queues": "ok", "disk": "ok"}
    assert run.decisions == [] and published(publisher) == []
    recorder.flush()
    snapshot = metric_store.snapshot()
    assert snapshot["askproai_queue_size"] == {'["default"]': 0.0, '["webhooks"]': 3.0, '["stripe"]': 0.0}
    assert snapshot["askproai_health_check_status"]['["database"]'] == 1.0
    assert run.to_dict()["health"] == "healthy"


def test_a_database_that_is_down_pages_within_one_run(
    alerting: AlertingService, publisher: RecordingPublisher, metric_store: InMemoryMetricBackend
) -> None:
    checks, sleeps = scheduled(alerting, database=FAILED, probe=Probe(FAILED, FAILED))
    run = checks.run(budget=50)
    assert [d["outcome"] for d in run.decisions] == ["below_threshold", "below_threshold", "notified"]
    assert sleeps == [1.0, 1.0]  # probes spaced a second apart: 3 failures within the rule's minute
    [notification] = published(publisher)
    assert notification.alert_type == "database_connection_failure"
    assert notification.summary == "3 failed connections to MySQL in the last minute (threshold 3)"
    recorder.flush()
    assert metric_store.snapshot()["askproai_database_connection_failures"] == {"[]": 3.0}


def test_a_single_dropped_connection_does_not_page(alerting: AlertingService, publisher: RecordingPublisher) -> None:
    checks, _ = scheduled(alerting, database=FAILED, probe=Probe(OK))
    run = checks.run(budget=50)
    assert [d["outcome"] for d in run.decisions] == ["below_threshold"]
    assert published(publisher) == []


def test_probes_stop_at_the_budget(alerting: AlertingService) -> None:
    checks, sleeps = scheduled(alerting, database=FAILED, probe=Probe(FAILED, FAILED))
    run = checks.run(budget=3.5)  # 2 s margin: no room for a probe (1 s spacing + 1 s timeout)
    assert len(run.decisions) == 1 and sleeps == []


def test_queue_backlog_fires_per_queue_and_resolves_when_it_drains(
    alerting: AlertingService, publisher: RecordingPublisher, clock: Clock
) -> None:
    checks, _ = scheduled(alerting, queues={"default": 10, "webhooks": 2500, "stripe": 0})
    checks.run()
    [fired] = published(publisher)
    assert fired.summary == "Queue webhooks holds 2500 messages (threshold 1000)"
    assert fired.labels == {"queue": "webhooks"}
    clock.advance(60)
    checks.run()  # still over: counted, not sent again
    assert len(published(publisher)) == 1
    clock.advance(60)
    drained, _ = scheduled(alerting, queues={"default": 10, "webhooks": 40, "stripe": 0})
    run = drained.run()
    assert run.resolved == [fired.alert_id]
    notice = published(publisher)[-1]
    assert (notice.kind, notice.resolution) == ("resolved", "queue webhooks is back under the threshold")


def test_unreadable_queues_resolve_nothing(alerting: AlertingService, publisher: RecordingPublisher) -> None:
    scheduled(alerting, queues={"webhooks": 2500})[0].run()
    checks = ScheduledChecks(
        HealthCheckService([Check("queues", FAILED, None)], timeout=1.0), alerting, recorder, sleep=lambda _: None
    )
    assert checks.run().resolved == []


def test_error_rate_over_five_minutes_with_a_minimum_request_count(
    alerting: AlertingService, publisher: RecordingPublisher, clock: Clock
) -> None:
    totals = Totals()
    checks, _ = scheduled(alerting, totals=totals)
    # First run: no history yet
    assert checks.run().error_rate == {"status": "no history yet"}
    # Three requests, one error (33%): under the 50-request minimum, nobody is paged
    clock.advance(60)
    totals.requests, totals.errors = 3, 1
    run = checks.run()
    assert run.error_rate["status"] == "ok" and run.error_rate["rate"] == pytest.approx(0.3333, abs=1e-4)
    assert published(publisher) == []
    # Then 200 requests with 14 errors (7%) within the five minutes: fires
    for _ in range(4):
        clock.advance(60)
        checks.run()
    clock.advance(60)
    totals.requests, totals.errors = 203, 15
    run = checks.run()
    assert run.error_rate["status"] == "above threshold"
    assert run.error_rate["minutes"] == pytest.approx(5.0)  # against the sample five minutes back
    [fired] = published(publisher)
    assert fired.alert_type == "high_error_rate"
    assert fired.summary == "7.0% of API requests failed in the last 5 minutes (14 of 200; threshold 5%)"
    # The errors stop and traffic goes on: once the window's rate is back under 5%, it resolves
    clock.advance(60)
    totals.requests += 50  # 14 errors in 250 requests: 5.6%, still firing
    assert checks.run().resolved == []
    clock.advance(60)
    totals.requests += 50  # 14 in 300: 4.7%
    assert checks.run().resolved == ["high_error_rate"]
    assert published(publisher)[-1].kind == "resolved"


def test_an_unreachable_metric_store_skips_the_error_rate(alerting: AlertingService) -> None:
    def broken() -> dict[str, float]:
        raise ConnectionError("redis down")

    checks = ScheduledChecks(HealthCheckService([Check("disk")], timeout=1.0), alerting, recorder, metric_totals=broken)
    assert checks.run().error_rate == {"status": "metric store unavailable"}


def test_counter_resets_are_not_read_as_negative_traffic(alerting: AlertingService, clock: Clock) -> None:
    totals = Totals()
    totals.requests, totals.errors = 500, 50
    checks, _ = scheduled(alerting, totals=totals)
    checks.run()
    clock.advance(60)
    totals.requests, totals.errors = 10, 0
    assert checks.run().error_rate == {"status": "counters were reset"}


def test_count_alerts_resolve_after_a_quiet_window(
    alerting: AlertingService, publisher: RecordingPublisher, clock: Clock
) -> None:
    alerting.alert("payment_failure", {"count": 3})
    checks, _ = scheduled(alerting)
    clock.advance(299)
    assert checks.run().resolved == []
    clock.advance(1)
    assert checks.run().resolved == ["payment_failure"]
    assert published(publisher)[-1].summary == ("Resolved: Payment failures (no occurrence in the last 5 minutes)")


def test_http_totals_sum_every_route(metric_store: InMemoryMetricBackend) -> None:
    recorder.inc("http_requests_total", route="/api/health", method="GET", status=200)
    recorder.inc("http_requests_total", 4, route="/api/alerts", method="GET", status=500)
    recorder.inc("http_requests_errors_total", 4, route="/api/alerts", method="GET", status=500)
    recorder.flush()
    assert http_totals(metric_store) == {"requests": 5.0, "errors": 4.0}


def test_the_scheduled_function_answers_the_sample_event(metric_store: InMemoryMetricBackend) -> None:
    env: dict[str, str | None] = {
        "ALERTS_TABLE": "AlertsTable",
        "ALERT_WINDOWS_TABLE": "AlertWindowsTable",
        "ALERT_SILENCES_TABLE": "AlertSilencesTable",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:AlertsTopic",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "STRIPE_SECRET_KEY": "sk_test_unit",
        "SENTRY_LARAVEL_DSN": None,
        "SENTRY_DSN": None,
    }
    module: Any = cold_start("scheduled_checks", env)
    alerting = service(InMemoryAlertStore(), RecordingPublisher(), Clock())
    module.scheduled = ScheduledChecks(
        HealthCheckService([Check("database"), Check("disk")], timeout=1.0), alerting, recorder, metric_totals=Totals()
    )
    result = module.lambda_handler(load_event("scheduled_checks.json"), FakeLambdaContext(timeout_seconds=50))
    assert result["health"] == "healthy"
    assert result["error_rate"] == {"status": "no history yet"}
    assert result["errors"] == []


def test_an_unreachable_alert_store_still_records_the_gauges(
    alerting: AlertingService, metric_store: InMemoryMetricBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> list[Any]:
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(alerting.store, "alerts", down)
    run = scheduled(alerting)[0].run()
    assert run.errors == ["listing active alerts: ConnectionError"]  # the function raises: its Errors alarm
    recorder.flush()
    assert metric_store.snapshot()["askproai_health_check_status"]['["database"]'] == 1.0


def test_the_alert_quality_gauges_are_set_every_fifteen_minutes(
    clock: Clock, alerting: AlertingService, metric_store: InMemoryMetricBackend
) -> None:
    # Given a payment_failure episode acknowledged after 2 minutes and resolved after 10
    alerting.alert("payment_failure", {"count": 3})
    clock.advance(120)
    alerting.acknowledge("payment_failure")
    clock.advance(480)
    alerting.resolve("payment_failure")
    checks, _ = scheduled(alerting)
    # When a run falls on a minute that is not a multiple of 15: no figures
    clock.advance(60)  # 10:11
    assert checks.run(budget=50).quality == {}
    recorder.flush()
    assert metric_store.snapshot()["askproai_alert_rule_fired"] == {}
    # When one does (10:15)
    clock.advance(240)
    assert checks.run(budget=50).quality == {"7d": 1, "30d": 1}
    recorder.flush()
    snapshot = metric_store.snapshot()
    assert snapshot["askproai_alert_rule_fired"]['["payment_failure","7d"]'] == 1.0
    assert snapshot["askproai_alert_rule_fired"]['["stripe_dispute","30d"]'] == 0.0
    assert snapshot["askproai_alert_rule_ack_seconds"]['["payment_failure","7d","median"]'] == 120.0
    assert snapshot["askproai_alert_rule_resolve_seconds"]['["payment_failure","30d","p90"]'] == 600.0
    assert snapshot["askproai_alert_rule_resolved_unacknowledged"]['["payment_failure","7d"]'] == 0.0
