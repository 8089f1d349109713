"""The delivery history on a real moto server (DynamoDB, SES and SNS over HTTP) and a local Slack
webhook: SES's rejection and Slack's invalid_payload are in the history with their attempt numbers,
beside the deliveries that worked; masked; read back in time order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from platform_monitoring.alerting.delivery.channels import EmailChannel, SlackChannel, SmsChannel
from platform_monitoring.alerting.delivery.dispatcher import AlertDispatcher, DeliveryFailed
from platform_monitoring.alerting.delivery.history import DynamoDeliveryHistory
from platform_monitoring.alerting.delivery.records import DynamoDeliveryStore
from platform_monitoring.core.config import Secret

from localdev.slack import SlackCapture
from localdev.template import verify_ses_identities
from tests.support.alerting import moto_service, topic_notifications
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration

UNVERIFIED = "alerts@unverified.example.org"


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsEmulator]:
    with aws_emulator(ses_identities=()) as running:
        yield running


@pytest.fixture
def slack() -> Iterator[SlackCapture]:
    with SlackCapture() as capture:
        yield capture


def test_every_attempt_is_in_the_history_with_the_providers_reason(aws: AwsEmulator, slack: SlackCapture) -> None:
    alerting = moto_service(aws)
    alerting.alert("payment_failure", {"count": 3})
    [notification] = topic_notifications(aws)
    ses, sns = aws.client("ses"), aws.client("sns")
    history = DynamoDeliveryHistory(aws.client("dynamodb"), "AlertDeliveryHistoryTable")
    dispatcher = AlertDispatcher(
        [
            EmailChannel(lambda: ses, UNVERIFIED, ("ops@example.com",)),
            SmsChannel(lambda: sns, ("+15555550100",)),
            SlackChannel(Secret("ALERT_SLACK_WEBHOOK", "env", slack.url), 5.0),
        ],
        DynamoDeliveryStore(aws.client("dynamodb"), "AlertDeliveriesTable"),
        history=history,
    )
    # Given SES has not verified the sender and Slack refuses the payload
    slack.status = 400
    with pytest.raises(DeliveryFailed):
        dispatcher.deliver(notification)
    # When both are fixed and Lambda retries
    verify_ses_identities(aws.endpoint_url, aws.region, [UNVERIFIED])
    slack.status = 200
    dispatcher.deliver(notification)
    # Then every attempt is in the history, in time order, with its reason
    attempts = history.for_alert("payment_failure")
    rows = sorted((a.target, a.attempt, a.outcome) for a in attempts)
    assert rows == [
        ("email", 1, "failed"),
        ("email", 2, "sent"),
        ("slack", 1, "failed"),
        ("slack", 2, "sent"),
        ("sms:+•••••••0100", 1, "sent"),
    ]
    reasons = {(a.target, a.attempt): a.reason for a in attempts}
    assert reasons[("slack", 1)] == "SlackError: Slack answered HTTP 400: invalid_payload"
    assert "MessageRejected" in reasons[("email", 1)] and UNVERIFIED in reasons[("email", 1)]
    assert reasons[("slack", 2)].startswith("HTTP 200")
    assert [a.at for a in attempts] == sorted(a.at for a in attempts)
    assert {a.notification_id for a in attempts} == {notification.notification_id}
    assert all("5555550100" not in a.target for a in attempts)
