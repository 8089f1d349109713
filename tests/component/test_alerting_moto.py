"""AlertingService and AlertDispatcher against a real moto server (DynamoDB, SNS, SES over HTTP)
and a local Slack capture: window edges, throttling under real concurrency, each channel's
message, a channel that rejects or hangs while the others deliver."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from platform_monitoring.alerting.delivery.channels import EmailChannel, SlackChannel, SmsChannel
from platform_monitoring.alerting.delivery.dispatcher import AlertDispatcher, DeliveryFailed, DeliveryResult
from platform_monitoring.alerting.delivery.records import DynamoDeliveryStore
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.core.config import Secret

from localdev.slack import SlackCapture
from localdev.template import verify_ses_identities
from tests.support.alerting import moto_service
from tests.support.clock import Clock
from tests.support.faults import HangingServer
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration

SENDER = "monitoring@example.com"
RECIPIENTS = ("ops@example.com", "admin@example.com")
NUMBERS = ("+15555550100", "+15555550101")


@pytest.fixture(scope="module")
def emulator() -> Iterator[AwsEmulator]:
    with aws_emulator(ses_identities=()) as running:
        yield running


@pytest.fixture
def aws(emulator: AwsEmulator) -> AwsEmulator:
    emulator.reset()  # every test starts with empty tables and no sent messages
    verify_ses_identities(emulator.endpoint_url, emulator.region, [SENDER])
    return emulator


@pytest.fixture
def slack() -> Iterator[SlackCapture]:
    with SlackCapture() as capture:
        yield capture


def topic_notifications(aws: AwsEmulator) -> list[Notification]:
    """What AlertingService published to AlertsTopic, as the moto server recorded it."""
    topics = aws.sent_messages()["sns"]["Topic"]
    [alerts] = [topic for topic in topics if topic["arn"].endswith(":AlertsTopic")]
    return [Notification.from_json(sent[1]) for sent in alerts["sent_notifications"]]


def sent_emails(aws: AwsEmulator) -> list[email.message.EmailMessage]:
    raw = aws.sent_messages()["ses"].get("RawMessage") or []
    return [email.message_from_string(item["raw_data"], policy=email.policy.default) for item in raw]  # type: ignore[misc]


def sent_sms(aws: AwsEmulator) -> list[dict[str, Any]]:
    return list(aws.sent_messages()["sns"].get("SMS") or [])


def dispatcher(
    aws: AwsEmulator, slack_url: str, *, sender: str = SENDER, slack_timeout: float = 5.0, **kwargs: Any
) -> AlertDispatcher:
    ses, sns = aws.client("ses"), aws.client("sns")
    return AlertDispatcher(
        [
            EmailChannel(lambda: ses, sender, RECIPIENTS),
            SmsChannel(lambda: sns, NUMBERS),
            SlackChannel(Secret("ALERT_SLACK_WEBHOOK", "env", slack_url), slack_timeout),
        ],
        DynamoDeliveryStore(aws.client("dynamodb"), "AlertDeliveriesTable"),
        **kwargs,
    )


def statuses(results: list[DeliveryResult]) -> dict[str, str]:
    return {result.target: result.status for result in results}


# --- windows and throttling against DynamoDB -------------------------------------------------
@pytest.mark.parametrize(("third_at", "fires"), [(299.999, True), (300.0, False)])
def test_window_edges_in_dynamodb(aws: AwsEmulator, third_at: float, fires: bool) -> None:
    clock = Clock()
    alerting = moto_service(aws, clock)
    for at in (0.0, 120.0):
        clock.at(at)
        assert alerting.alert("payment_failure", {"reason": "card_declined"}).outcome == "below_threshold"
    clock.at(third_at)
    decision = alerting.alert("payment_failure", {"reason": "card_declined"})
    assert decision.count == (3 if fires else 2), decision
    assert decision.notified is fires
    assert len(topic_notifications(aws)) == (1 if fires else 0)


def test_an_occurrence_id_is_counted_once_in_dynamodb(aws: AwsEmulator) -> None:
    # The transaction (marker + occurrence) as DynamoDB runs it: the second write of an ID is refused whole.
    alerting = moto_service(aws, Clock())
    outcomes = [alerting.alert("payment_failure", {"occurrence_id": event_id}) for event_id in ("a", "b", "b", "a")]
    assert [decision.count for decision in outcomes] == [1, 2, 2, 2]
    assert alerting.alert("payment_failure", {"occurrence_id": "c"}).notified


def test_fifty_concurrent_lambdas_send_exactly_one_notification(aws: AwsEmulator) -> None:
    # Given fifty "Lambda instances", each with its own clients, at the same instant
    clock = Clock()
    services = [moto_service(aws, clock) for _ in range(50)]
    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def instance(alerting: AlertingService) -> None:
        barrier.wait()
        outcomes.append(alerting.alert("payment_failure", {"reason": "card_declined"}).outcome)

    threads = [threading.Thread(target=instance, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Then exactly one notification went to the topic; every other call is counted
    assert len(outcomes) == 50
    assert outcomes.count("notified") == 1, outcomes
    assert outcomes.count("notified") + outcomes.count("throttled") + outcomes.count("below_threshold") == 50
    assert len(topic_notifications(aws)) == 1
    record = services[0].get("payment_failure")
    assert record.suppressed == outcomes.count("throttled")
    assert record.count == 50 - outcomes.count("below_threshold")  # every occurrence since it fired, once
    # When the throttle period is over, the next notification shows the suppressed repeats
    clock.advance(900)
    assert services[0].alert("payment_failure", {"count": 3}).notified
    latest = topic_notifications(aws)[-1]
    assert latest.suppressed == outcomes.count("throttled")


def test_concurrent_identical_deliveries_send_each_channel_once(aws: AwsEmulator, slack: SlackCapture) -> None:
    # SNS delivers at least once: the same notification may arrive at two invocations at once.
    alerting = moto_service(aws)
    alerting.alert("payment_failure", {"count": 3})
    [notification] = topic_notifications(aws)
    dispatchers = [dispatcher(aws, slack.url) for _ in range(5)]
    barrier = threading.Barrier(5)
    results: list[list[DeliveryResult]] = []

    def invocation(d: AlertDispatcher) -> None:
        barrier.wait()
        results.append(d.deliver(notification))

    threads = [threading.Thread(target=invocation, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(sent_emails(aws)) == 1
    assert len(sent_sms(aws)) == 2
    assert len(slack.messages) == 1
    sent = [r for batch in results for r in batch if r.status == "sent"]
    assert sorted(r.target for r in sent) == ["email", "slack", "sms:+15555550100", "sms:+15555550101"]


# --- each channel's message ---------------------------------------------------------------------
def test_each_channel_gets_a_readable_masked_message(aws: AwsEmulator, slack: SlackCapture) -> None:
    alerting = moto_service(aws)
    alerting.alert(
        "payment_failure",
        {"count": 5, "window": 5, "reason": "card_declined", "api_key": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"},
    )
    [notification] = topic_notifications(aws)
    results = dispatcher(aws, slack.url).deliver(notification)
    assert set(statuses(results).values()) == {"sent"}

    [mail] = sent_emails(aws)
    assert mail["Subject"] == "[CRITICAL] Payment failures (test)"
    assert mail["From"] == SENDER and mail["To"] == ", ".join(RECIPIENTS)
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "5 payment failures in the last 5 minutes (threshold 3)" in text
    assert "Severity:    critical" in text
    assert "Runbook: https://runbooks.example.com/payment_failure.md" in text
    assert "reason: card_declined" in text
    assert "<h2" in html and "5 payment failures" in html

    sms = sent_sms(aws)
    assert sorted(message["phone_number"] for message in sms) == list(NUMBERS)
    assert sms[0]["message"] == (
        "[test] CRITICAL: Payment failures - 5 payment failures in the last 5 minutes (threshold 3)"
    )

    [slack_text] = slack.texts()
    assert slack_text.startswith(":red_circle: CRITICAL: Payment failures: 5 payment failures in the last 5 minutes")
    assert "<https://runbooks.example.com/payment_failure.md|Runbook>" in slack_text

    everything = json.dumps(aws.sent_messages()) + json.dumps(slack.messages)
    assert "4eC39HqLyjWDarjtT1zdp7dc" not in everything


def test_ses_rejecting_never_silences_slack_and_sms_and_the_retry_sends_email_only(
    aws: AwsEmulator, slack: SlackCapture
) -> None:
    # Given a sender SES has not verified: SES rejects every email
    unverified = "alerts@unverified.example.org"
    alerting = moto_service(aws)
    alerting.alert("payment_failure", {"count": 3})
    [notification] = topic_notifications(aws)
    deliver = dispatcher(aws, slack.url, sender=unverified)
    # When the dispatcher runs
    with pytest.raises(DeliveryFailed) as raised:
        deliver.deliver(notification)
    # Then Slack and both SMS went out, the email failed and was recorded as failed
    assert statuses(raised.value.results) == {
        "email": "failed",
        "sms:+15555550100": "sent",
        "sms:+15555550101": "sent",
        "slack": "sent",
    }
    assert "MessageRejected" in next(r.detail for r in raised.value.results if r.target == "email")
    assert (len(sent_emails(aws)), len(sent_sms(aws)), len(slack.messages)) == (0, 2, 1)
    # When the sender is fixed and Lambda retries the event
    verify_ses_identities(aws.endpoint_url, aws.region, [unverified])
    results = deliver.deliver(notification)
    # Then only the email is sent
    assert statuses(results) == {
        "email": "sent",
        "sms:+15555550100": "already_sent",
        "sms:+15555550101": "already_sent",
        "slack": "already_sent",
    }
    assert (len(sent_emails(aws)), len(sent_sms(aws)), len(slack.messages)) == (1, 2, 1)


def test_a_slack_endpoint_that_hangs_costs_its_timeout_and_is_reported(aws: AwsEmulator) -> None:
    alerting = moto_service(aws)
    alerting.alert("payment_failure", {"count": 3})
    [notification] = topic_notifications(aws)

    def report(failed: Notification, result: DeliveryResult) -> None:
        alerting.alert(
            "alert_channel_failure",
            {
                "channel": result.channel,
                "alert_type": failed.alert_type,
                "attempts": result.attempt,
                "error": result.detail,
            },
        )

    with HangingServer() as hanging:
        deliver = dispatcher(
            aws, f"http://127.0.0.1:{hanging.port}/services/hook", slack_timeout=1.0, attempts=1, report_failure=report
        )
        started = time.monotonic()
        with pytest.raises(DeliveryFailed) as raised:
            deliver.deliver(notification)
        elapsed = time.monotonic() - started
    results = statuses(raised.value.results)
    assert results == {"email": "sent", "sms:+15555550100": "sent", "sms:+15555550101": "sent", "slack": "failed"}
    assert "Slack did not answer within 1 s" in str(raised.value)
    assert elapsed < 3.0  # the channels ran side by side: one timeout, not a queue behind it
    assert (len(sent_emails(aws)), len(sent_sms(aws))) == (1, 2)
    # The failing channel was reported through the others
    failure = topic_notifications(aws)[-1]
    assert failure.alert_type == "alert_channel_failure"
    assert failure.channels == ("email", "sms")
    assert failure.summary == (
        "Alert delivery by slack failed 1 times (payment_failure): SlackError: Slack did not answer within 1 s"
    )
