"""The delivery history on fakes: every attempt (sent, failed, skipped) with its reason, attempt
number and masked target; the history failing never stops a delivery; the API route and the CLI's
rendering."""

from __future__ import annotations

from typing import Any

import pytest
from platform_monitoring.alerting.delivery.channels import SlackError
from platform_monitoring.alerting.delivery.dispatcher import AlertDispatcher, DeliveryFailed
from platform_monitoring.alerting.delivery.history import DeliveryAttempt, masked_target
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.tools.cli import describe_attempt

from tests.support.fakes import InMemoryDeliveryHistory, InMemoryDeliveryStore

NUMBER = "+15555550100"


class ScriptedChannel:
    """A channel whose sends answer from a script: an exception to raise or a receipt."""

    def __init__(self, name: str, targets: list[str], *answers: Exception | str) -> None:
        self.name, self._targets, self.answers = name, targets, list(answers)

    def targets(self) -> list[str]:
        return self._targets

    def skip_reason(self) -> str:
        return f"no {self.name} recipients configured"

    def send(self, target: str, notification: Notification) -> str:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class MessageRejected(Exception):
    pass


def notification(**fields: Any) -> Notification:
    values: dict[str, Any] = {
        "notification_id": "n-1",
        "kind": "firing",
        "alert_id": "payment_failure",
        "alert_type": "payment_failure",
        "title": "Payment failures",
        "severity": "critical",
        "summary": "3 payment failures",
        "channels": ("email", "slack", "sms"),
    }
    return Notification(**{**values, **fields})


def test_every_attempt_is_in_the_history_with_its_reason() -> None:
    history = InMemoryDeliveryHistory()
    rejected = MessageRejected("Email address is not verified. The following identities failed: ops@example.com")
    dispatcher = AlertDispatcher(
        [
            ScriptedChannel("email", ["email"], rejected),
            ScriptedChannel("slack", ["slack"], SlackError("Slack answered HTTP 400: invalid_payload"), "HTTP 200 ok"),
            ScriptedChannel("sms", [f"sms:{NUMBER}"], "sms-message-id"),
        ],
        InMemoryDeliveryStore(),
        history=history,
    )
    for _ in range(2):  # the first delivery and Lambda's retry
        with pytest.raises(DeliveryFailed):
            dispatcher.deliver(notification())
    rows = sorted((a.target, a.attempt, a.outcome, a.reason) for a in history.for_alert("payment_failure"))
    assert rows == [
        (
            "email",
            1,
            "failed",
            "MessageRejected: Email address is not verified. The following identities failed: ops@example.com",
        ),
        (
            "email",
            2,
            "failed",
            "MessageRejected: Email address is not verified. The following identities failed: ops@example.com",
        ),
        ("slack", 1, "failed", "SlackError: Slack answered HTTP 400: invalid_payload"),
        ("slack", 2, "sent", "HTTP 200 ok"),
        ("sms:+•••••••0100", 1, "sent", "sms-message-id"),  # delivered once: the retry did not resend it
    ]
    attempt = history.for_alert("payment_failure")[0]
    assert attempt.notification_id == "n-1" and attempt.kind == "firing" and attempt.at > 0


def test_a_skipped_channel_is_in_the_history_with_why() -> None:
    history = InMemoryDeliveryHistory()
    dispatcher = AlertDispatcher(
        [ScriptedChannel("sms", [], "unused"), ScriptedChannel("slack", ["slack"], "HTTP 200 ok")],
        InMemoryDeliveryStore(),
        history=history,
    )
    dispatcher.deliver(notification(channels=("slack", "sms"), escalation=2))
    attempts = history.for_alert("payment_failure")
    assert {(a.channel, a.outcome, a.reason, a.attempt, a.escalation) for a in attempts} == {
        ("slack", "sent", "HTTP 200 ok", 1, 2),
        ("sms", "skipped", "no sms recipients configured", 0, 2),
    }


class BrokenHistory:
    def record(self, attempt: DeliveryAttempt) -> None:
        raise RuntimeError("DynamoDB is down")

    def for_alert(self, alert_id: str, limit: int = 200) -> list[DeliveryAttempt]:
        return []


def test_a_failing_history_never_stops_a_delivery() -> None:
    channel = ScriptedChannel("slack", ["slack"], "HTTP 200 ok")
    dispatcher = AlertDispatcher([channel], InMemoryDeliveryStore(), history=BrokenHistory())
    [result] = dispatcher.deliver(notification(channels=("slack",)))
    assert result.status == "sent"


def test_secrets_in_a_providers_reason_are_masked() -> None:
    history = InMemoryDeliveryHistory()
    leak = SlackError("proxy answered HTTP 403 to Authorization: Bearer abcdefghijkl0123456789")
    dispatcher = AlertDispatcher([ScriptedChannel("slack", ["slack"], leak)], InMemoryDeliveryStore(), history=history)
    with pytest.raises(DeliveryFailed):
        dispatcher.deliver(notification(channels=("slack",)))
    [attempt] = history.for_alert("payment_failure")
    assert "abcdefghijkl0123456789" not in attempt.reason and "[MASKED]" in attempt.reason


def test_test_notifications_are_not_kept() -> None:
    history = InMemoryDeliveryHistory()
    dispatcher = AlertDispatcher([ScriptedChannel("slack", ["slack"], "ok")], InMemoryDeliveryStore(), history=history)
    dispatcher.deliver(notification(kind="test", channels=("slack",)))
    assert history.attempts == []


@pytest.mark.parametrize(
    ("target", "masked"),
    [("email", "email"), ("slack", "slack"), ("sms:+15555550100", "sms:+•••••••0100"), ("sms:+12", "sms:+••")],
)
def test_targets_are_masked(target: str, masked: str) -> None:
    assert masked_target(target) == masked


def test_the_cli_shows_an_attempt_on_one_line() -> None:
    attempt = DeliveryAttempt(
        "payment_failure", "n-1", "firing", "slack", "slack", 1_795_946_400_000, "failed", "invalid_payload", 2, 1
    )
    assert describe_attempt(attempt.to_api()) == (
        "2026-11-29T10:00:00.000Z firing escalation 1 slack attempt 2 FAILED: invalid_payload"
    )
