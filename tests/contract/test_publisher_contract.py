"""Publisher (alerting.notification): RecordingPublisher and SnsPublisher on AlertsTopic, one suite.

publish() puts the whole notification on the topic and returns the ID of that message (each
publication its own, even of the same notification); a refused publication raises and leaves
nothing on the topic, as does a notification whose filter attributes (alert_type, severity, kind)
are empty, which SNS refuses.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from platform_monitoring.alerting.notification import Notification

from tests.contract.harness import RACERS, PublisherHarness, race, unique


def notification(**changes: object) -> Notification:
    alert_id = unique("alert")
    values: dict[str, object] = {
        "notification_id": unique("n"),
        "kind": "firing",
        "alert_id": alert_id,
        "alert_type": "payment_failure_spike",
        "title": "Payment failures",
        "severity": "critical",
        "summary": "12 failed payments in 5 min",
        "description": "Stripe reports card declines",
        "labels": {"currency": "eur", "merchant": "ünï 日本"},
        "count": 12,
        "total": 40,
        "threshold": "10",
        "window": "5 min",
        "suppressed": 3,
        "first_seen": "2026-11-29T10:00:00.000Z",
        "last_seen": "2026-11-29T10:05:00.000Z",
        "context": {"last_error": 'card_declined "do_not_honor"\nretry', "amounts": [100, 250]},
        "channels": ("email", "slack"),
        "runbook_url": "https://runbooks.example.com/payment_failure_spike",
        "stage": "test",
        "created_at": "2026-11-29T10:05:00.000Z",
    }
    values.update(changes)
    return Notification(**values)  # type: ignore[arg-type]


def mine(harness: PublisherHarness, sent: Notification) -> list[tuple[str, Notification]]:
    """What the topic got for this notification's alert (other suites share the topic)."""
    return [(message_id, got) for message_id, got in harness.published() if got.alert_id == sent.alert_id]


def test_the_whole_notification_reaches_the_topic_under_the_returned_id(publisher: PublisherHarness) -> None:
    sent = notification()
    message_id = publisher.publisher.publish(sent)
    assert isinstance(message_id, str) and message_id
    assert mine(publisher, sent) == [(message_id, sent)]


def test_each_publication_is_its_own_message(publisher: PublisherHarness) -> None:
    sent = notification()
    first, second = publisher.publisher.publish(sent), publisher.publisher.publish(sent)
    assert first != second
    assert mine(publisher, sent) == [(first, sent), (second, sent)]


def test_every_kind_and_a_long_title_are_published(publisher: PublisherHarness) -> None:
    alert_id = unique("alert")
    kinds = [
        notification(alert_id=alert_id, kind="firing", title="T" * 300),  # the subject is cut to 100
        notification(alert_id=alert_id, kind="resolved", resolution="rolled back", stage="prod"),
        notification(alert_id=alert_id, kind="test", severity="info", channels=()),
    ]
    ids = [publisher.publisher.publish(sent) for sent in kinds]
    assert mine(publisher, kinds[0]) == list(zip(ids, kinds, strict=True))


def test_a_refused_publication_raises_and_leaves_nothing(publisher: PublisherHarness) -> None:
    sent = notification()
    publisher.refuse(True)
    with pytest.raises(Exception):  # noqa: B017 - SNS raises a ClientError, the fake what it was given
        publisher.publisher.publish(sent)
    assert mine(publisher, sent) == []
    publisher.refuse(False)
    message_id = publisher.publisher.publish(sent)
    assert mine(publisher, sent) == [(message_id, sent)]


@pytest.mark.parametrize("empty", ["alert_type", "severity", "kind"])
def test_an_empty_filter_attribute_is_refused(publisher: PublisherHarness, empty: str) -> None:
    sent = notification(**{empty: ""})
    with pytest.raises(ClientError) as refused:
        publisher.publisher.publish(sent)
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    assert mine(publisher, sent) == []


def test_concurrent_publications_each_arrive_once_under_their_own_id(publisher: PublisherHarness) -> None:
    alert_id = unique("alert")
    sent = [notification(alert_id=alert_id, count=index) for index in range(RACERS)]
    ids = race(RACERS, lambda index: publisher.publisher.publish(sent[index]))
    assert all(isinstance(message_id, str) for message_id in ids) and len(set(ids)) == RACERS, ids
    got = dict(mine(publisher, sent[0]))
    assert got == {message_id: sent[index] for index, message_id in enumerate(ids)}
