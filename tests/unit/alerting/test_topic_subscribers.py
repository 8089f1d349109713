"""topic_subscribers: SNS lists an unconfirmed subscription as "PendingConfirmation" (moto server
confirms every subscription at once, so this case is shown with SNS's documented page shape)."""

from __future__ import annotations

from typing import Any

from platform_monitoring.alerting.notification import topic_subscribers

TOPIC = "arn:aws:sns:us-east-1:123456789012:OperationsAlarmTopic"


class Pages:
    """ListSubscriptionsByTopic answered in pages, as botocore's paginator hands them out."""

    def __init__(self, *pages: list[str]) -> None:
        self.pages = pages
        self.asked: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> Pages:
        assert operation == "list_subscriptions_by_topic"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.asked.append(kwargs)
        return [{"Subscriptions": [{"SubscriptionArn": arn, "TopicArn": TOPIC} for arn in page]} for page in self.pages]


def test_pending_confirmations_are_not_subscribers() -> None:
    client = Pages(["PendingConfirmation", "PendingConfirmation"])
    found = topic_subscribers(client, TOPIC)  # type: ignore[arg-type]
    assert (found.confirmed, found.pending, found.reaches_someone) == (0, 2, False)
    assert client.asked == [{"TopicArn": TOPIC}]


def test_every_page_counts() -> None:
    client = Pages([f"{TOPIC}:a", "PendingConfirmation"], [f"{TOPIC}:b"])
    found = topic_subscribers(client, TOPIC)  # type: ignore[arg-type]
    assert (found.confirmed, found.pending, found.reaches_someone) == (2, 1, True)
