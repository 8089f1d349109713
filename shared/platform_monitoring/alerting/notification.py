"""The message on the alerts topic and the publisher that puts it there."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.alerting.rules import CHANNELS

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


@dataclass(frozen=True)
class Notification:
    """The message on the alerts topic: everything a channel needs to tell a person."""

    notification_id: str
    kind: str  # firing | resolved | test
    alert_id: str
    alert_type: str
    title: str
    severity: str
    summary: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    count: int = 0  # occurrences in the window when it fired
    total: int = 0  # occurrences since the alert was first seen
    threshold: str = ""
    window: str = ""
    suppressed: int = 0  # repeats not notified since the previous notification
    first_seen: str | None = None
    last_seen: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    channels: tuple[str, ...] = CHANNELS
    runbook_url: str = ""
    stage: str = ""
    created_at: str | None = None
    resolution: str | None = None
    escalation: int = 0  # 0: the alert's own notification; n: the n-th page of its escalation

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Notification:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("an alert notification is a JSON object")
        missing = {"notification_id", "kind", "alert_id", "alert_type", "title", "severity", "summary"} - set(data)
        if missing:
            raise ValueError(f"alert notification without {', '.join(sorted(missing))}")
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["channels"] = tuple(channel for channel in known.get("channels", CHANNELS) if channel in CHANNELS)
        return cls(**known)

    @property
    def subject(self) -> str:
        prefix = {"firing": f"[{self.severity.upper()}]", "resolved": "[RESOLVED]", "test": "[TEST]"}
        stage = f" ({self.stage})" if self.stage and self.stage != "prod" else ""
        return f"{prefix.get(self.kind, '[ALERT]')} {self.title}{stage}"


class Publisher(Protocol):
    def publish(self, notification: Notification) -> str: ...


class SnsPublisher:
    """Publishes notifications to the alerts topic, with attributes subscribers can filter on."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, notification: Notification) -> str:
        response = self._client.publish(
            TopicArn=self.topic_arn,
            Message=notification.to_json(),
            Subject=notification.subject[:100],
            MessageAttributes={
                "alert_type": {"DataType": "String", "StringValue": notification.alert_type},
                "severity": {"DataType": "String", "StringValue": notification.severity},
                "kind": {"DataType": "String", "StringValue": notification.kind},
            },
        )
        return response["MessageId"]


PENDING_CONFIRMATION = "PendingConfirmation"  # an e-mail or HTTP subscription nobody confirmed yet


@dataclass(frozen=True)
class TopicSubscribers:
    """Who an SNS topic reaches: `confirmed` subscriptions deliver; `pending` ones do not (yet)."""

    topic_arn: str
    confirmed: int
    pending: int

    @property
    def reaches_someone(self) -> bool:
        return self.confirmed > 0


def topic_subscribers(client: SNSClient, topic_arn: str) -> TopicSubscribers:
    """ListSubscriptionsByTopic, every page: SNS lists an unconfirmed subscription with the
    SubscriptionArn "PendingConfirmation", which receives nothing."""
    confirmed = pending = 0
    for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page.get("Subscriptions", []):
            if subscription.get("SubscriptionArn") == PENDING_CONFIRMATION:
                pending += 1
            else:
                confirmed += 1
    return TopicSubscribers(topic_arn, confirmed, pending)
