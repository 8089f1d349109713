"""What the contract suites hold besides the store: a way to read what the store wrote (the raw
item, the published messages) and a race of threads that start together."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from platform_monitoring.alerting.notification import Notification, Publisher
from platform_monitoring.alerting.store import AlertStore

from tests.support.fakes import InMemoryAlertStore, RecordingPublisher

T = TypeVar("T")

# 2026-11-29T10:00:00Z in epoch milliseconds: a round time, so window edges read plainly.
T0_MS = 1_795_946_400_000
RACERS = 8


def unique(prefix: str) -> str:
    """An ID no other test (nor an earlier run on the same moto server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def race(n: int, attempt: Callable[[int], T]) -> list[T | BaseException]:
    """attempt(0..n-1) in n threads released together; each one's result or the exception it raised."""
    barrier = threading.Barrier(n)
    results: list[T | BaseException] = [RuntimeError("did not run")] * n

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = attempt(index)
        except Exception as error:  # the caller counts winners and losers
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def plain(value: Any) -> Any:
    """DynamoDB's Decimals as int (or float), recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


# --- alert store -------------------------------------------------------------------------------


@dataclass
class AlertStoreHarness:
    store: AlertStore
    raw_item: Callable[[str], dict[str, Any] | None]  # the alert's item as stored (TTL `expires_at`...)


def fake_alert_store() -> AlertStoreHarness:
    store = InMemoryAlertStore()
    return AlertStoreHarness(
        store, lambda alert_id: dict(store.records[alert_id]) if alert_id in store.records else None
    )


def dynamo_alert_store(aws: Any) -> AlertStoreHarness:
    from boto3.dynamodb.types import TypeDeserializer
    from platform_monitoring.alerting.store import DynamoAlertStore

    resources = aws.resources
    client = aws.client("dynamodb")
    table = resources["AlertsTable"]["Ref"]
    store = DynamoAlertStore(
        client, table, resources["AlertWindowsTable"]["Ref"], resources["AlertSilencesTable"]["Ref"]
    )
    deserializer = TypeDeserializer()

    def raw_item(alert_id: str) -> dict[str, Any] | None:
        item = client.get_item(TableName=table, Key={"id": {"S": alert_id}}, ConsistentRead=True).get("Item")
        return {name: plain(deserializer.deserialize(value)) for name, value in item.items()} if item else None

    return AlertStoreHarness(store, raw_item)


# --- publisher ---------------------------------------------------------------------------------


@dataclass
class PublisherHarness:
    publisher: Publisher
    published: Callable[[], list[tuple[str, Notification]]]  # (message ID, message) as the topic got them
    refuse: Callable[[bool], None]  # refuse(True): every publication is refused from now on; False: accepted


def fake_publisher() -> PublisherHarness:
    publisher = RecordingPublisher()

    def refuse(refusing: bool) -> None:
        publisher.fail = ConnectionError("the topic refuses") if refusing else None

    return PublisherHarness(
        publisher, lambda: list(zip(publisher.message_ids, publisher.notifications, strict=True)), refuse
    )


def sns_publisher(aws: Any) -> PublisherHarness:
    from platform_monitoring.alerting.notification import SnsPublisher

    topic_arn = aws.resources["AlertsTopic"]["Arn"]
    publisher = SnsPublisher(aws.client("sns"), topic_arn)
    missing = topic_arn.rsplit(":", 1)[0] + ":" + unique("NoSuchTopic")

    def published() -> list[tuple[str, Notification]]:
        topics = aws.sent_messages()["sns"]["Topic"]
        sent = [entry for topic in topics if topic["arn"] == topic_arn for entry in topic["sent_notifications"]]
        # moto keeps (message_id, message, subject, attributes, group_id) for every publication
        return [(entry[0], Notification.from_json(entry[1])) for entry in sent]

    def refuse(refusing: bool) -> None:
        publisher.topic_arn = missing if refusing else topic_arn  # SNS refuses a topic that does not exist

    return PublisherHarness(publisher, published, refuse)
