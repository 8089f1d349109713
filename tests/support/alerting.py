"""Alerting pieces for tests: services on fakes or on a moto server, a recording `alerts=` sink."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from platform_monitoring.alerting.delivery.history import DynamoDeliveryHistory
from platform_monitoring.alerting.notification import Notification, Publisher, SnsPublisher
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.alerting.store import AlertStore, DynamoAlertStore
from platform_monitoring.core.interfaces import SECURITY_CONTROL_ALERT

from tests.support.clock import Clock
from tests.support.fakes import InMemoryAlertStore, RecordingPublisher

RUNBOOKS = "https://runbooks.example.com/"


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


def moto_service(
    aws: Any, clock: Clock | None = None, overrides: str | None = None, *, history: bool = False
) -> AlertingService:
    """AlertingService on an AwsEmulator's DynamoDB tables and SNS alerts topic (real HTTP); with
    `history`, reading whom an alert paged from AlertDeliveryHistoryTable."""
    resources: Mapping[str, Mapping[str, str]] = aws.resources
    store = DynamoAlertStore(aws.client("dynamodb"), "AlertsTable", "AlertWindowsTable", "AlertSilencesTable")
    publisher = SnsPublisher(aws.client("sns"), resources["AlertsTopic"]["Arn"])
    if not history:
        return service(store, publisher, clock, overrides)
    delivery_history = DynamoDeliveryHistory(aws.client("dynamodb"), "AlertDeliveryHistoryTable")
    return service(store, publisher, clock, overrides, history=delivery_history)


def published(publisher: Publisher, *, excluding: Collection[str] = ()) -> list[Notification]:
    """What a RecordingPublisher published, but the alert types in `excluding`."""
    assert isinstance(publisher, RecordingPublisher)
    return [n for n in publisher.notifications if n.alert_type not in excluding]


# A silence's own audit notice (security_control_change) is tested beside the silences; tests of what
# a silence does to the pages leave it out: published(publisher, excluding=AUDIT_NOTICES).
AUDIT_NOTICES = frozenset({SECURITY_CONTROL_ALERT})


class RecordingAlerts:
    """What a processor or the security monitor alerts through (`alerts=`), recorded: `calls` holds
    (alert_type, context); the first `fail_times` calls raise ConnectionError (alerting down)."""

    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_times = fail_times

    def alert(self, alert_type: str, context: dict[str, Any], /) -> object:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("alerting is down")
        self.calls.append((alert_type, context))
        return None

    def types(self) -> list[str]:
        return [alert_type for alert_type, _ in self.calls]


def topic_notifications(aws: Any, *, excluding: Collection[str] = ()) -> list[Notification]:
    """What was published to an AwsEmulator's AlertsTopic, as the moto server recorded it, but the
    alert types in `excluding`."""
    topics = aws.sent_messages()["sns"]["Topic"]
    [alerts] = [topic for topic in topics if topic["arn"].endswith(":AlertsTopic")]
    sent = [Notification.from_json(message[1]) for message in alerts["sent_notifications"]]
    return [n for n in sent if n.alert_type not in excluding]


# AlertsApiFunction's environment for unit tests on fakes (cold_start("alerts_api", ALERTS_API_ENV)):
# the table names are the template's logical ids; nothing is called through them.
ALERTS_API_SECRET = "unit-alerts-secret"
ALERTS_ADMIN_SECRET = "unit-alerts-admin-secret"  # silences, blocks, unblocks
ALERTS_API_ENV: dict[str, str | None] = {
    "ALERTS_API_SECRET": ALERTS_API_SECRET,
    "ALERTS_ADMIN_SECRET": ALERTS_ADMIN_SECRET,
    "ALERTS_TABLE": "AlertsTable",
    "ALERT_WINDOWS_TABLE": "AlertWindowsTable",
    "ALERT_SILENCES_TABLE": "AlertSilencesTable",
    "ALERT_DELIVERY_HISTORY_TABLE": "AlertDeliveryHistoryTable",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:AlertsTopic",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "SENTRY_LARAVEL_DSN": None,
    "SENTRY_DSN": None,
}
