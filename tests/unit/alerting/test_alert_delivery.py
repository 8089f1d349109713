"""Alert messages per channel, and the dispatcher's isolation and delivery records (fakes only)."""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import replace
from typing import Any

import pytest
from platform_monitoring.alerting.delivery.dispatcher import AlertDispatcher, DeliveryFailed, DeliveryResult
from platform_monitoring.alerting.delivery.messages import (
    SMS_MAX_CHARS,
    email_html,
    email_message,
    email_subject,
    email_text,
    slack_payload,
    sms_text,
)
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.observability.metrics import recorder

from tests.support.fakes import InMemoryDeliveryStore, InMemoryMetricBackend
from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.logs import captured_channel

FIRING = Notification(
    notification_id="n-1",
    kind="firing",
    alert_id="payment_failure",
    alert_type="payment_failure",
    title="Payment failures",
    severity="critical",
    summary="4 payment failures in the last 5 minutes (threshold 3)",
    description="Payments are failing.",
    count=4,
    total=9,
    threshold="3",
    window="5 minutes",
    suppressed=12,
    first_seen="2026-11-29T10:00:00.000Z",
    last_seen="2026-11-29T10:04:00.000Z",
    context={"reason": "card_declined", "token": "tok_live_secretvalue", "note": "<script>alert(1)</script>"},
    channels=("email", "slack", "sms"),
    runbook_url="https://runbooks.example.com/payment_failure.md",
    stage="staging",
)


def test_email_has_severity_what_counts_runbook_and_no_secret() -> None:
    text = email_text(FIRING)
    assert email_subject(FIRING) == "[CRITICAL] Payment failures (staging)"
    assert text.startswith("CRITICAL: Payment failures\n\n4 payment failures in the last 5 minutes (threshold 3)")
    assert "What happened: Payments are failing." in text
    assert "Count:       4 in the last 5 minutes (threshold 3); 9 since it started firing" in text
    assert "Suppressed:  12 repeats since the previous notification (throttled)" in text
    assert "Runbook: https://runbooks.example.com/payment_failure.md" in text
    assert "Acknowledge: POST /api/alerts/payment_failure/ack" in text
    assert "tok_live_secretvalue" not in text and "token: [MASKED]" in text


def test_email_html_escapes_what_it_shows() -> None:
    page = email_html(FIRING)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert '<a href="https://runbooks.example.com/payment_failure.md">Runbook</a>' in page
    assert "tok_live_secretvalue" not in page


def test_email_is_text_and_html_alternatives() -> None:
    raw = email_message(FIRING, "monitoring@example.com", ["ops@example.com", "admin@example.com"])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["From"] == "monitoring@example.com"
    assert message["To"] == "ops@example.com, admin@example.com"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "4 payment failures" in plain.get_content()
    assert "<h2" in html.get_content()


def test_sms_is_one_short_ascii_segment() -> None:
    text = sms_text(FIRING)
    assert text == (
        "[staging] CRITICAL: Payment failures - 4 payment failures in the last 5 minutes (threshold 3) (+12 suppressed)"
    )
    long = replace(FIRING, summary="é" * 400)
    assert len(sms_text(long)) == SMS_MAX_CHARS
    assert sms_text(long).isascii()
    resolved = replace(
        FIRING, kind="resolved", summary="Resolved: Payment failures (no occurrence in the last 5 minutes)"
    )
    assert sms_text(resolved).startswith("[staging] RESOLVED: Payment failures - Resolved")


def test_slack_message_is_readable() -> None:
    payload = slack_payload(FIRING)
    assert (
        payload["text"]
        == ":red_circle: CRITICAL: Payment failures: 4 payment failures in the last 5 minutes (threshold 3)"
    )
    flat = json.dumps(payload)
    assert "*Severity*\\ncritical" in flat
    assert "*Count*\\n4 in the last 5 minutes (threshold 3); 9 since it started firing" in flat
    assert "*Suppressed*\\n12 repeats" in flat
    assert "<https://runbooks.example.com/payment_failure.md|Runbook>" in flat
    assert "tok_live_secretvalue" not in flat
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "CRITICAL: Payment failures"},
    }


# --- the dispatcher ------------------------------------------------------------------------
class FakeChannel:
    def __init__(self, name: str, targets: list[str], failures: int = 0) -> None:
        self.name = name
        self._targets = targets
        self.failures = failures  # fail this many sends, then succeed
        self.sent: list[tuple[str, str]] = []

    def targets(self) -> list[str]:
        return self._targets

    def skip_reason(self) -> str:
        return f"no {self.name} recipients configured"

    def send(self, target: str, notification: Notification) -> str:
        if self.failures:
            self.failures -= 1
            raise ConnectionError(f"{self.name} refused: password=hunter2")
        self.sent.append((target, notification.notification_id))
        return f"{self.name}-receipt"


class Reports:
    def __init__(self) -> None:
        self.calls: list[tuple[str, DeliveryResult]] = []

    def __call__(self, notification: Notification, result: DeliveryResult) -> None:
        self.calls.append((notification.alert_id, result))


def statuses(results: list[DeliveryResult]) -> dict[str, str]:
    return {result.target: result.status for result in results}


def test_one_failing_channel_never_stops_the_others_and_the_retry_sends_only_it(
    metric_store: InMemoryMetricBackend,
) -> None:
    email_channel = FakeChannel("email", ["email"], failures=1)
    sms = FakeChannel("sms", ["sms:+15555550100", "sms:+15555550101"])
    slack = FakeChannel("slack", ["slack"])
    dispatcher = AlertDispatcher([email_channel, sms, slack], InMemoryDeliveryStore(), attempts=3)
    # First attempt: email fails, the others deliver; the dispatcher raises after recording
    with pytest.raises(DeliveryFailed) as raised:
        dispatcher.deliver(FIRING)
    assert statuses(raised.value.results) == {
        "email": "failed",
        "sms:+15555550100": "sent",
        "sms:+15555550101": "sent",
        "slack": "sent",
    }
    assert "hunter2" not in str(raised.value)
    # The retry (Lambda's) sends the email only
    results = dispatcher.deliver(FIRING)
    assert statuses(results) == {
        "email": "sent",
        "sms:+15555550100": "already_sent",
        "sms:+15555550101": "already_sent",
        "slack": "already_sent",
    }
    assert len(email_channel.sent) == 1 and len(sms.sent) == 2 and len(slack.sent) == 1
    recorder.flush()
    sent = metric_store.snapshot()["askproai_alerts_sent"]
    assert sent == {
        '["payment_failure","email"]': 1.0,
        '["payment_failure","sms"]': 2.0,
        '["payment_failure","slack"]': 1.0,
    }
    assert metric_store.snapshot()["askproai_alert_delivery_failures"] == {'["email"]': 1.0}


def test_a_channel_that_keeps_failing_is_reported_on_the_last_attempt() -> None:
    reports = Reports()
    slack = FakeChannel("slack", ["slack"], failures=99)
    dispatcher = AlertDispatcher(
        [FakeChannel("email", ["email"]), slack], InMemoryDeliveryStore(), attempts=3, report_failure=reports
    )
    for _ in range(2):
        with pytest.raises(DeliveryFailed):
            dispatcher.deliver(FIRING)
    assert reports.calls == []
    with pytest.raises(DeliveryFailed):
        dispatcher.deliver(FIRING)
    [(alert_id, result)] = reports.calls
    assert (alert_id, result.channel, result.attempt) == ("payment_failure", "slack", 3)


def test_a_failure_report_is_never_reported_again() -> None:
    reports = Reports()
    dispatcher = AlertDispatcher(
        [FakeChannel("email", ["email"], failures=9)], InMemoryDeliveryStore(), attempts=1, report_failure=reports
    )
    about_a_failure = replace(FIRING, alert_type="alert_channel_failure", alert_id="alert_channel_failure-x")
    with pytest.raises(DeliveryFailed):
        dispatcher.deliver(about_a_failure)
    assert reports.calls == []


def test_channels_without_recipients_are_skipped_with_a_log_line() -> None:
    dispatcher = AlertDispatcher([FakeChannel("email", ["email"]), FakeChannel("sms", [])], InMemoryDeliveryStore())
    with captured_channel("monitoring") as output:
        results = dispatcher.deliver(FIRING)
    assert statuses(results) == {"email": "sent", "sms": "skipped"}
    assert "Alert channel sms skipped: no sms recipients configured" in output.getvalue()


def test_only_the_notifications_channels_are_used() -> None:
    sms = FakeChannel("sms", ["sms:+15555550100"])
    dispatcher = AlertDispatcher([FakeChannel("email", ["email"]), sms], InMemoryDeliveryStore())
    results = dispatcher.deliver(replace(FIRING, channels=("email",)))
    assert statuses(results) == {"email": "sent"}
    assert sms.sent == []


def test_a_target_in_flight_elsewhere_is_not_sent_twice() -> None:
    store = InMemoryDeliveryStore()
    now = 1_000_000
    assert store.claim("n-1", "slack", now, 120_000) == 1
    assert store.claim("n-1", "slack", now + 1000, 120_000) is None  # a concurrent invocation holds the lease
    assert store.claim("n-1", "slack", now + 121_000, 120_000) == 2  # the holder died: its lease expired


def test_the_dispatcher_function_delivers_the_sample_event(monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, str | None] = {
        "ALERTS_TABLE": "AlertsTable",
        "ALERT_WINDOWS_TABLE": "AlertWindowsTable",
        "ALERT_SILENCES_TABLE": "AlertSilencesTable",
        "ALERT_DELIVERIES_TABLE": "AlertDeliveriesTable",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:AlertsTopic",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",  # boto3 resolves credentials when it builds a DynamoDB client
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SENTRY_LARAVEL_DSN": None,
        "SENTRY_DSN": None,
    }
    module: Any = cold_start("alert_dispatcher", env)
    channels = [FakeChannel("email", ["email"]), FakeChannel("slack", ["slack"], failures=1)]
    module.dispatcher = AlertDispatcher(channels, InMemoryDeliveryStore())
    event = load_event("alert_dispatcher.json")
    with pytest.raises(DeliveryFailed):
        module.lambda_handler(event, FakeLambdaContext())
    response = module.lambda_handler(event, FakeLambdaContext())
    [delivered] = response["notifications"]
    assert delivered["results"] == {"email": "already_sent", "slack": "sent"}
