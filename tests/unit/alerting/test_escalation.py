"""Escalation and acknowledgement timeouts on fakes with a hand-moved clock: each step pages once,
on schedule; an expired acknowledgement pages again; resolve, silences and rules without an
escalation stop it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from platform_monitoring.alerting.escalation import ACK_TIMEOUT, ESCALATED, Escalator
from platform_monitoring.alerting.rules import RULES_FILE, Escalation, EscalationStep, RuleSet
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.core.config import ConfigurationError
from platform_monitoring.health.service import CheckOutcome, CheckStatus, HealthCheckService
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.scheduled.checks import ScheduledChecks

from tests.support.alerting import Clock, service
from tests.support.fakes import InMemoryAlertStore, InMemoryEscalationStore, RecordingPublisher

MINUTE = 60


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> InMemoryAlertStore:
    return InMemoryAlertStore()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def alerting(store: InMemoryAlertStore, publisher: RecordingPublisher, clock: Clock) -> AlertingService:
    return service(store, publisher, clock)


@pytest.fixture
def escalator(alerting: AlertingService, store: InMemoryAlertStore) -> Escalator:
    return Escalator(alerting, InMemoryEscalationStore(store))


def evaluate(escalator: Escalator, alerting: AlertingService) -> list[tuple[str, int, tuple[str, ...]]]:
    return [(page.kind, page.level, page.channels) for page in escalator.evaluate(alerting.alerts(status="active"))]


def fire(alerting: AlertingService) -> str:
    decision = alerting.alert("payment_failure", {"count": 3})
    assert decision.notified
    return decision.alert_id


EVERYONE = ("email", "slack", "sms")


def test_the_shipped_policy_pages_at_10_minutes_then_every_30_and_stops_after_a_day() -> None:
    escalation = RuleSet.load()["payment_failure"].escalation
    assert escalation is not None
    assert [escalation.page_at(level) for level in (1, 2, 3)] == [600, 2400, 4200]
    assert escalation.due_level(599) == 0 and escalation.due_level(600) == 1 and escalation.due_level(2399) == 1
    assert escalation.due_level(86400) == escalation.due_level(10**7) == 48  # 600 + 47 * 1800 <= 86400
    assert escalation.channels(1) == escalation.channels(48) == EVERYONE


def test_an_unacknowledged_alert_escalates_on_schedule_and_once_per_step(
    alerting: AlertingService, escalator: Escalator, publisher: RecordingPublisher, clock: Clock
) -> None:
    alert_id = fire(alerting)
    assert [n.escalation for n in publisher.notifications] == [0]
    assert evaluate(escalator, alerting) == []
    clock.advance(10 * MINUTE - 1)
    assert evaluate(escalator, alerting) == []
    clock.advance(1)
    assert evaluate(escalator, alerting) == [(ESCALATED, 1, EVERYONE)]
    assert evaluate(escalator, alerting) == []  # the same minute again: nothing more
    clock.advance(MINUTE)
    assert evaluate(escalator, alerting) == []
    clock.advance(29 * MINUTE)  # 40 minutes in: the repeat
    assert evaluate(escalator, alerting) == [(ESCALATED, 2, EVERYONE)]
    page = publisher.notifications[-1]
    assert page.alert_id == alert_id and page.kind == "firing" and page.escalation == 2
    assert page.summary.startswith("Not acknowledged after 40 minutes: 3 payment failures")
    assert alerting.get(alert_id).notifications == 3


def test_two_evaluations_at_once_page_once(
    alerting: AlertingService, store: InMemoryAlertStore, publisher: RecordingPublisher, clock: Clock
) -> None:
    fire(alerting)
    clock.advance(10 * MINUTE)
    records = alerting.alerts(status="active")  # both runs listed the alert before either wrote
    escalators = [Escalator(alerting, InMemoryEscalationStore(store)) for _ in range(8)]
    barrier = threading.Barrier(len(escalators))
    pages: list[int] = []

    def run(escalator: Escalator) -> None:
        barrier.wait()
        pages.extend(page.level for page in escalator.evaluate(records))

    threads = [threading.Thread(target=run, args=(escalator,)) for escalator in escalators]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pages == [1]
    assert [n.escalation for n in publisher.notifications] == [0, 1]


def test_a_missed_schedule_sends_the_latest_due_step_once(
    alerting: AlertingService, escalator: Escalator, publisher: RecordingPublisher, clock: Clock
) -> None:
    fire(alerting)
    clock.advance(2 * 3600)  # no run for two hours: steps 1 to 4 are due
    assert evaluate(escalator, alerting) == [(ESCALATED, 4, EVERYONE)]
    assert evaluate(escalator, alerting) == []


def test_an_acknowledged_alert_does_not_escalate_until_its_acknowledgement_times_out(
    alerting: AlertingService, escalator: Escalator, publisher: RecordingPublisher, clock: Clock
) -> None:
    alert_id = fire(alerting)
    clock.advance(MINUTE)
    alerting.acknowledge(alert_id, by="alice")
    clock.advance(60 * MINUTE - 1)
    assert evaluate(escalator, alerting) == []
    clock.advance(1)  # the hour's acknowledgement is over and the alert still fires
    assert evaluate(escalator, alerting) == [(ACK_TIMEOUT, 0, EVERYONE)]
    record = alerting.get(alert_id)
    assert record.status == "firing" and record.acknowledged_by is None
    page = publisher.notifications[-1]
    assert page.summary.startswith("Acknowledged by alice 1 hour ago and still firing: 3 payment failures")
    assert evaluate(escalator, alerting) == []  # the re-page is sent once
    clock.advance(10 * MINUTE)  # the escalation starts over from the re-page
    assert evaluate(escalator, alerting) == [(ESCALATED, 1, EVERYONE)]


def test_an_acknowledgement_that_times_out_pages_once_across_concurrent_runs(
    alerting: AlertingService, store: InMemoryAlertStore, publisher: RecordingPublisher, clock: Clock
) -> None:
    alert_id = fire(alerting)
    alerting.acknowledge(alert_id)
    clock.advance(3600)
    records = alerting.alerts(status="active")
    first, second = (Escalator(alerting, InMemoryEscalationStore(store)) for _ in range(2))
    assert [page.kind for page in first.evaluate(records) + second.evaluate(records)] == [ACK_TIMEOUT]


def test_resolve_stops_everything(
    alerting: AlertingService, escalator: Escalator, publisher: RecordingPublisher, clock: Clock
) -> None:
    alert_id = fire(alerting)
    listed = alerting.alerts(status="active")
    clock.advance(10 * MINUTE)
    alerting.resolve(alert_id, by="bob")
    assert escalator.evaluate(listed) == []  # listed before the resolve: the write's condition fails
    clock.advance(3600)
    assert evaluate(escalator, alerting) == []
    assert [n.kind for n in publisher.notifications] == ["firing", "resolved"]


def test_a_reopened_alert_starts_a_new_escalation(
    alerting: AlertingService, escalator: Escalator, clock: Clock
) -> None:
    alert_id = fire(alerting)
    clock.advance(10 * MINUTE)
    assert evaluate(escalator, alerting) == [(ESCALATED, 1, EVERYONE)]
    alerting.resolve(alert_id)
    clock.advance(MINUTE)
    fire(alerting)
    clock.advance(10 * MINUTE - 1)
    assert evaluate(escalator, alerting) == []
    clock.advance(1)
    assert evaluate(escalator, alerting) == [(ESCALATED, 1, EVERYONE)]


def test_rules_without_an_escalation_keep_todays_behaviour(
    alerting: AlertingService, escalator: Escalator, publisher: RecordingPublisher, clock: Clock
) -> None:
    decision = alerting.alert("stripe_webhook_failure", {"count": 5})
    alerting.acknowledge(decision.alert_id)
    alerting.alert("queue_backlog", {"queue": "webhooks", "size": 5000})
    for _ in range(30):
        clock.advance(3600)
        assert evaluate(escalator, alerting) == []
    assert len(publisher.notifications) == 2


def test_escalation_can_be_turned_off_per_environment(
    store: InMemoryAlertStore, publisher: RecordingPublisher, clock: Clock
) -> None:
    alerting = service(store, publisher, clock, overrides="payment_failure.escalation=none")
    fire(alerting)
    clock.advance(3600)
    assert Escalator(alerting, InMemoryEscalationStore(store)).evaluate(alerting.alerts()) == []


def test_a_silence_holds_the_escalation_and_it_resumes_after(
    alerting: AlertingService, escalator: Escalator, clock: Clock
) -> None:
    fire(alerting)
    alerting.silence("payment_failure", minutes=30, reason="deploy")
    clock.advance(10 * MINUTE)
    assert evaluate(escalator, alerting) == []
    clock.advance(20 * MINUTE)
    assert evaluate(escalator, alerting) == [(ESCALATED, 1, EVERYONE)]


def test_a_page_that_could_not_be_published_is_tried_again_next_run(
    alerting: AlertingService, escalator: Escalator, publisher: RecordingPublisher, clock: Clock
) -> None:
    fire(alerting)
    clock.advance(10 * MINUTE)
    publisher.fail = RuntimeError("SNS is down")
    [page] = escalator.evaluate(alerting.alerts())
    assert page.outcome == "error"
    publisher.fail = None
    clock.advance(MINUTE)
    assert evaluate(escalator, alerting) == [(ESCALATED, 1, EVERYONE)]


def test_nothing_pages_after_the_stop(alerting: AlertingService, escalator: Escalator, clock: Clock) -> None:
    fire(alerting)
    clock.advance(86400)
    assert [level for _, level, _ in evaluate(escalator, alerting)] == [48]
    for _ in range(5):
        clock.advance(3600)
        assert evaluate(escalator, alerting) == []


class FailingDatabase:
    name, critical = "database", True

    def run(self, timeout: float) -> CheckOutcome:
        return CheckOutcome(CheckStatus.FAILED, "Database connection failed: Connection refused")


def test_the_scheduled_checks_escalate_a_database_that_stays_down(
    alerting: AlertingService, escalator: Escalator, publisher: RecordingPublisher, clock: Clock
) -> None:
    checks = ScheduledChecks(
        HealthCheckService([FailingDatabase()], timeout=1.0),
        alerting,
        recorder,
        database_probe=FailingDatabase(),
        sleep=lambda seconds: None,
        escalator=escalator,
    )
    runs = []
    for _ in range(11):  # every minute for ten minutes
        runs.append(checks.run(budget=50).to_dict())
        clock.advance(MINUTE)
    assert [run["escalations"] for run in runs[:10]] == [[]] * 10
    [page] = runs[10]["escalations"]
    assert page == {
        "alert_id": "database_connection_failure",
        "type": "database_connection_failure",
        "kind": ESCALATED,
        "level": 1,
        "channels": list(EVERYONE),
        "outcome": "paged",
    }
    assert [n.escalation for n in publisher.notifications] == [0, 1]


@pytest.mark.parametrize(
    ("escalation", "problem"),
    [
        ({"steps": [{"after_seconds": 0, "channels": ["sms"]}]}, "after_seconds above 0"),
        ({"steps": [{"after_seconds": 600, "channels": ["pager"]}]}, "channels among"),
        ({"repeat_seconds": 1800}, "needs a step to repeat"),
        ({"ack_timeout_seconds": 5}, "ack_timeout_seconds must be at least 60"),
    ],
)
def test_a_wrong_escalation_is_refused_at_load(tmp_path: Path, escalation: dict[str, object], problem: str) -> None:
    rules = json.loads(RULES_FILE.read_text())
    rules["rules"]["payment_failure"]["escalation"] = escalation
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    with pytest.raises(ConfigurationError, match=problem):
        RuleSet.load(path=path)


def test_step_channels_and_levels() -> None:
    escalation = Escalation(
        steps=(EscalationStep(300, ("slack",)), EscalationStep(900, ("email", "sms"))), stop_after_seconds=3600
    )
    assert [escalation.due_level(t) for t in (0, 299, 300, 899, 900, 3600)] == [0, 0, 1, 1, 2, 2]
    assert escalation.channels(1) == ("slack",) and escalation.channels(2) == ("email", "sms")
