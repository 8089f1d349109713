"""Alerting pieces for tests: a settable clock, services on fakes or on a moto server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platform_monitoring.alerting.notification import Notification, Publisher, SnsPublisher
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.alerting.store import AlertStore, DynamoAlertStore

from tests.support.fakes import InMemoryAlertStore, RecordingPublisher

# 2026-11-29T10:00:00Z: a round time, so window edges read plainly in the tests.
T0 = 1_795_946_400.0
RUNBOOKS = "https://runbooks.example.com/"


class Clock:
    """A clock tests move by hand (epoch seconds)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, seconds_after_t0: float) -> Clock:
        self.now = T0 + seconds_after_t0
        return self

    def advance(self, seconds: float) -> Clock:
        self.now += seconds
        return self


def service(
    store: AlertStore | None = None,
    publisher: Publisher | None = None,
    clock: Clock | None = None,
    overrides: str | None = None,
    **kwargs: Any,
) -> AlertingService:
    return AlertingService(
        RuleSet.load(overrides),
        store if store is not None else InMemoryAlertStore(),
        publisher if publisher is not None else RecordingPublisher(),
        runbook_base_url=RUNBOOKS,
        stage="test",
        clock=clock or Clock(),
        **kwargs,
    )


def moto_service(aws: Any, clock: Clock | None = None, overrides: str | None = None) -> AlertingService:
    """AlertingService on an AwsEmulator's DynamoDB tables and SNS alerts topic (real HTTP)."""
    resources: Mapping[str, Mapping[str, str]] = aws.resources
    store = DynamoAlertStore(aws.client("dynamodb"), "AlertsTable", "AlertWindowsTable", "AlertSilencesTable")
    publisher = SnsPublisher(aws.client("sns"), resources["AlertsTopic"]["Arn"])
    return service(store, publisher, clock, overrides)


def published(publisher: Publisher) -> list[Notification]:
    assert isinstance(publisher, RecordingPublisher)
    return publisher.notifications


def topic_notifications(aws: Any) -> list[Notification]:
    """What was published to an AwsEmulator's AlertsTopic, as the moto server recorded it."""
    topics = aws.sent_messages()["sns"]["Topic"]
    [alerts] = [topic for topic in topics if topic["arn"].endswith(":AlertsTopic")]
    return [Notification.from_json(sent[1]) for sent in alerts["sent_notifications"]]
