"""A resolved notice during a silence on a real moto server (DynamoDB, SNS, SES over HTTP) and the
local Slack stub: the dispatcher records whom the page reached, the silence starts, the alert
resolves, and the notice goes to exactly the channels that delivered the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from platform_monitoring.alerting.delivery.channels import EmailChannel, SlackChannel
from platform_monitoring.alerting.delivery.dispatcher import AlertDispatcher, DeliveryFailed
from platform_monitoring.alerting.delivery.history import DynamoDeliveryHistory
from platform_monitoring.alerting.delivery.records import DynamoDeliveryStore
from platform_monitoring.core.config import Secret

from localdev.slack import SlackCapture
from tests.support.alerting import AUDIT_NOTICES, Clock, moto_service
from tests.support.alerting import topic_notifications as all_topic_notifications
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration

SENDER = "monitoring@example.com"  # verified by aws_emulator()


def topic_notifications(aws: Any) -> list[Any]:
    return all_topic_notifications(aws, excluding=AUDIT_NOTICES)


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsEmulator]:
    with aws_emulator() as running:
        yield running


@pytest.fixture
def slack() -> Iterator[SlackCapture]:
    with SlackCapture() as capture:
        yield capture


def dispatcher(aws: AwsEmulator, slack: SlackCapture, sender: str) -> AlertDispatcher:
    ses = aws.client("ses")
    return AlertDispatcher(
        [
            EmailChannel(lambda: ses, sender, ("ops@example.com",)),
            SlackChannel(Secret("ALERT_SLACK_WEBHOOK", "env", slack.url), 5.0),
        ],
        DynamoDeliveryStore(aws.client("dynamodb"), "AlertDeliveriesTable"),
        attempts=1,
        history=DynamoDeliveryHistory(aws.client("dynamodb"), "AlertDeliveryHistoryTable"),
    )


def sent_emails(aws: AwsEmulator) -> int:
    return len(aws.sent_messages()["ses"].get("RawMessage") or [])


def test_the_resolved_notice_reaches_the_channels_the_page_reached(aws: AwsEmulator, slack: SlackCapture) -> None:
    clock = Clock()
    alerting = moto_service(aws, clock, history=True)
    # Given stripe_webhook_failure paged: Slack took it, SES refused the (unverified) sender
    alerting.alert("stripe_webhook_failure", {"count": 5})
    [firing] = topic_notifications(aws)
    with pytest.raises(DeliveryFailed):
        dispatcher(aws, slack, "alerts@unverified.example.org").deliver(firing)
    assert len(slack.messages) == 1
    # When a silence starts and the alert is resolved during it
    clock.advance(300)
    alerting.silence("stripe_webhook_failure", minutes=60, reason="deploy")
    alerting.resolve("stripe_webhook_failure", by="oncall", note="fixed the endpoint")
    # Then the resolved notice went to the topic, for Slack only, and Slack shows it
    resolved = topic_notifications(aws)[-1]
    assert resolved.kind == "resolved" and resolved.channels == ("slack",)
    emails_before = sent_emails(aws)
    dispatcher(aws, slack, SENDER).deliver(firing)  # email now works: the page itself reaches email too
    assert sent_emails(aws) == emails_before + 1
    emails_before = sent_emails(aws)
    dispatcher(aws, slack, SENDER).deliver(resolved)
    assert len(slack.messages) == 2 and "Resolved" in str(slack.messages[-1])
    assert sent_emails(aws) == emails_before


def test_opting_out_keeps_the_silence_quiet(aws: AwsEmulator, slack: SlackCapture) -> None:
    clock = Clock()
    alerting = moto_service(aws, clock, "queue_backlog.notify_resolved_when_silenced=false", history=True)
    alerting.alert("queue_backlog", {"queue": "webhooks", "size": 5000})
    firing = topic_notifications(aws)[-1]
    assert firing.alert_type == "queue_backlog"
    dispatcher(aws, slack, SENDER).deliver(firing)
    published = len(topic_notifications(aws))
    alerting.silence("queue_backlog", minutes=60)
    alerting.resolve(firing.alert_id)
    assert len(topic_notifications(aws)) == published
