"""Escalation on a real moto server (DynamoDB's conditional writes and SNS over HTTP): two
evaluations at once page exactly once per step, an acknowledgement that times out re-pages once,
and resolve stops everything."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from platform_monitoring.alerting.escalation import ACK_TIMEOUT, ESCALATED, DynamoEscalationStore, Escalator, Page
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.alerting.store import AlertRecord

from tests.support.alerting import Clock, moto_service, topic_notifications
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration

MINUTE = 60


@pytest.fixture(scope="module")
def emulator() -> Iterator[AwsEmulator]:
    with aws_emulator(ses_identities=()) as running:
        yield running


@pytest.fixture
def aws(emulator: AwsEmulator) -> AwsEmulator:
    emulator.reset()
    return emulator


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def alerting(aws: AwsEmulator, clock: Clock) -> AlertingService:
    return moto_service(aws, clock)


def concurrently(aws: AwsEmulator, alerting: AlertingService, records: list[AlertRecord], runs: int) -> list[Page]:
    """`runs` evaluations at once, each with its own DynamoDB client, as overlapping Lambda runs would."""
    escalators = [
        Escalator(alerting, DynamoEscalationStore(aws.client("dynamodb"), "AlertsTable")) for _ in range(runs)
    ]
    barrier = threading.Barrier(runs)
    pages: list[Page] = []
    lock = threading.Lock()

    def run(escalator: Escalator) -> None:
        barrier.wait()
        found = escalator.evaluate(records)
        with lock:
            pages.extend(found)

    threads = [threading.Thread(target=run, args=(escalator,)) for escalator in escalators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return pages


def test_concurrent_evaluations_page_each_step_exactly_once(
    aws: AwsEmulator, alerting: AlertingService, clock: Clock
) -> None:
    alert_id = alerting.alert("payment_failure", {"count": 3}).alert_id
    for minutes, level in ((10, 1), (30, 2), (30, 3)):
        clock.advance(minutes * MINUTE)
        records = alerting.alerts(status="active")
        pages = concurrently(aws, alerting, records, runs=4)
        assert [(page.kind, page.level, page.outcome) for page in pages] == [(ESCALATED, level, "paged")]
        assert concurrently(aws, alerting, alerting.alerts(status="active"), runs=2) == []
    sent = topic_notifications(aws)
    assert [(n.alert_id, n.escalation) for n in sent] == [(alert_id, 0), (alert_id, 1), (alert_id, 2), (alert_id, 3)]
    assert len({n.notification_id for n in sent}) == 4
    assert sent[1].summary.startswith("Not acknowledged after 10 minutes: 3 payment failures")
    assert sent[1].channels == ("email", "slack", "sms")
    assert alerting.get(alert_id).notifications == 4


def test_an_acknowledgement_that_times_out_pages_again_once(
    aws: AwsEmulator, alerting: AlertingService, clock: Clock
) -> None:
    alert_id = alerting.alert("database_connection_failure", {"count": 3}).alert_id
    clock.advance(2 * MINUTE)
    alerting.acknowledge(alert_id, by="alice")
    clock.advance(30 * MINUTE)
    assert concurrently(aws, alerting, alerting.alerts(status="active"), runs=2) == []  # acknowledged: quiet
    clock.advance(30 * MINUTE)
    pages = concurrently(aws, alerting, alerting.alerts(status="active"), runs=4)
    assert [(page.kind, page.level) for page in pages] == [(ACK_TIMEOUT, 0)]
    record = alerting.get(alert_id)
    assert record.status == "firing" and record.acknowledged_at is None
    [_, repage] = topic_notifications(aws)
    assert repage.summary.startswith("Acknowledged by alice 1 hour ago and still firing")
    clock.advance(10 * MINUTE)  # the escalation starts over from the re-page
    pages = concurrently(aws, alerting, alerting.alerts(status="active"), runs=2)
    assert [(page.kind, page.level) for page in pages] == [(ESCALATED, 1)]


def test_resolve_stops_everything_and_a_reopened_alert_starts_over(
    aws: AwsEmulator, alerting: AlertingService, clock: Clock
) -> None:
    alert_id = alerting.alert("payment_failure", {"count": 3}).alert_id
    clock.advance(10 * MINUTE)
    assert len(concurrently(aws, alerting, alerting.alerts(status="active"), runs=1)) == 1
    listed = alerting.alerts(status="active")
    clock.advance(30 * MINUTE)
    alerting.resolve(alert_id, by="bob")
    assert concurrently(aws, alerting, listed, runs=2) == []  # listed before the resolve: the write fails
    clock.advance(MINUTE)
    alerting.alert("payment_failure", {"count": 3})  # fires again: a new episode
    clock.advance(10 * MINUTE - 1)
    assert concurrently(aws, alerting, alerting.alerts(status="active"), runs=2) == []
    clock.advance(1)
    pages = concurrently(aws, alerting, alerting.alerts(status="active"), runs=2)
    assert [(page.kind, page.level) for page in pages] == [(ESCALATED, 1)]
