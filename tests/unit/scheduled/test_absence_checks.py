"""The absence rules in a scheduled run, on fakes and a fake clock: the processor's last-seen gauges in
the (in-memory) metric store, firing through the AlertingService, resolving when traffic returns."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.health.service import HealthCheckService
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.scheduled.checks import LAST_SEEN, LastSeen, ScheduledChecks, last_seen_times

from tests.support.alerting import published, service
from tests.support.clock import Clock
from tests.support.fakes import InMemoryAlertStore, InMemoryMetricBackend, RecordingPublisher

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_TEN = datetime(2026, 11, 30, 10, 0, tzinfo=BERLIN).timestamp()


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_TEN)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def alerting(clock: Clock, publisher: RecordingPublisher) -> AlertingService:
    return service(InMemoryAlertStore(), publisher, clock)


def checks(alerting: AlertingService, metric_store: InMemoryMetricBackend) -> ScheduledChecks:
    return ScheduledChecks(
        HealthCheckService([], timeout=1.0),
        alerting,
        recorder,
        last_seen=lambda: last_seen_times(metric_store),
        time_zone="Europe/Berlin",
    )


def seen(at: float, *types: str) -> None:
    """What the webhook processor records for an event created at `at`."""
    for event_type in (*types, "any"):
        recorder.raise_to(LAST_SEEN, at, type=event_type)
    recorder.flush()


def run(scheduled: ScheduledChecks, other_traffic: bool = False) -> dict[str, object]:
    if other_traffic:  # events of other types keep arriving: only the payments are silent
        seen(scheduled.alerting.clock() - 30, "customer.created")
    result = scheduled.run(budget=50)
    recorder.flush()  # what the function's instrument does at the end of the invocation
    return result.to_dict()


def test_no_payment_for_an_hour_on_a_weekday_pages_once_and_resolves_when_one_arrives(
    alerting: AlertingService, publisher: RecordingPublisher, clock: Clock, metric_store: InMemoryMetricBackend
) -> None:
    scheduled = checks(alerting, metric_store)
    seen(MONDAY_TEN, "payment_intent.succeeded")
    clock.now = MONDAY_TEN + 3600
    assert run(scheduled, True)["absence"]["payments_absent"] == {"verdict": "ok", "silent_seconds": 3600}  # type: ignore[index]
    clock.advance(1)
    result = run(scheduled, True)
    assert result["alerts"] == [{"type": "payments_absent", "alert_id": "payments_absent", "outcome": "notified"}]
    [page] = published(publisher)
    assert page.summary.startswith("No payment_intent.succeeded for hour (last seen 2026-11-30T10:00+01:00")
    clock.advance(60)
    assert [a["outcome"] for a in run(scheduled, True)["alerts"]] == ["throttled"]  # type: ignore[union-attr]
    assert len(published(publisher)) == 1

    seen(clock.now - 5, "payment_intent.succeeded")
    clock.advance(60)
    result = run(scheduled, True)
    assert result["resolved"] == ["payments_absent"] and result["alerts"] == []
    assert [n.kind for n in published(publisher)] == ["firing", "resolved"]
    assert alerting.get("payments_absent").status == "resolved"


def test_outside_the_active_hours_silence_does_not_page(
    alerting: AlertingService, publisher: RecordingPublisher, clock: Clock, metric_store: InMemoryMetricBackend
) -> None:
    scheduled = checks(alerting, metric_store)
    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN).timestamp()
    seen(saturday_noon - 6 * 3600, "payment_intent.succeeded")
    for _ in range(3):
        clock.now = saturday_noon  # webhooks_absent (always on) fires; payments_absent is off on Saturdays
        result = run(scheduled)
        assert result["absence"]["payments_absent"]["verdict"] == "inactive"  # type: ignore[index]
        saturday_noon += 3600
    assert {n.alert_type for n in published(publisher)} == {"webhooks_absent"}


def test_a_type_never_seen_starts_its_clock_at_the_first_run_that_watches_it(
    alerting: AlertingService, publisher: RecordingPublisher, clock: Clock, metric_store: InMemoryMetricBackend
) -> None:
    scheduled = checks(alerting, metric_store)
    run(scheduled)  # an empty metric store: a new stage, or Redis emptied
    watched = metric_store.snapshot()["askproai_absence_watch_started_timestamp_seconds"]
    assert watched == {'["payments_absent"]': MONDAY_TEN, '["webhooks_absent"]': MONDAY_TEN}
    clock.advance(1800)
    assert run(scheduled)["alerts"] == []
    assert metric_store.snapshot()["askproai_absence_watch_started_timestamp_seconds"] == watched  # min: kept
    clock.advance(1)
    assert [a["type"] for a in run(scheduled)["alerts"]] == ["webhooks_absent"]  # type: ignore[index]


def test_a_metric_store_that_cannot_be_read_neither_fires_nor_resolves(
    alerting: AlertingService, publisher: RecordingPublisher, clock: Clock, metric_store: InMemoryMetricBackend
) -> None:
    seen(MONDAY_TEN - 7200, "payment_intent.succeeded")
    run(checks(alerting, metric_store))
    assert {n.alert_type for n in published(publisher)} == {"payments_absent", "webhooks_absent"}

    def unreadable() -> LastSeen:
        raise ConnectionError("redis down")

    broken = ScheduledChecks(HealthCheckService([], timeout=1.0), alerting, recorder, last_seen=unreadable)
    clock.advance(60)
    result = run(broken)
    assert result["absence"] == {"status": "metric store unavailable"}
    assert result["resolved"] == [] and result["errors"] == []
    assert {r.type for r in alerting.alerts(status="active")} == {"payments_absent", "webhooks_absent"}


def test_the_processors_out_of_order_flushes_never_move_last_seen_back(metric_store: InMemoryMetricBackend) -> None:
    seen(MONDAY_TEN, "payment_intent.succeeded")
    seen(MONDAY_TEN - 300, "payment_intent.succeeded")  # a slower Lambda's older batch, flushed later
    assert last_seen_times(metric_store).by_type == {"payment_intent.succeeded": MONDAY_TEN, "any": MONDAY_TEN}
