"""The two capabilities together on the local stack: three failed payments posted as signed
Stripe webhooks (one of them delivered twice) raise the `payment_failure` alert once, with
exactly one email, one SMS and one Slack message, and the alert shows in /api/alerts."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from localdev.stack import LocalStack
from localdev.template import aws_client
from tests.support.local_stack import local_stack, queue_depth
from tests.support.stack_calls import post_webhook
from tests.support.stripe_events import serialize, stripe_event
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "whsec_alerting_stack"
ALERTS_SECRET = "alerting-stack-alerts-secret"


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("ALERT_")},
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ALERTS_API_SECRET": ALERTS_SECRET,
        "ALERT_EMAIL_RECIPIENTS": "ops@example.com",
        "ALERT_EMAIL_FROM": "monitoring@example.com",
        "ALERT_SMS_RECIPIENTS": "+15555550100",
        "REDIS_URL": "redis://127.0.0.1:6379/10",
        "DB_DATABASE": "test",
    }
    only = ("StripeWebhookFunction", "WebhookProcessorFunction", "AlertDispatcherFunction", "AlertsApiFunction")
    with local_stack(environ=environ, schedules=False, only=only) as running:
        yield running


def alerts(stack: LocalStack) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{stack.api_url}/api/alerts?status=active", headers={"Authorization": f"Bearer {ALERTS_SECRET}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        listed: list[dict[str, Any]] = json.loads(response.read())["alerts"]
        return listed


def payment_failure_messages(stack: LocalStack) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in stack.sent_messages():
        text = f"{message.get('subject')} {message.get('body')}".lower()
        if "payment_failure" in text or "payment failures" in text:
            counts[message["channel"]] = counts.get(message["channel"], 0) + 1
    return counts


def test_three_failed_payments_page_once_on_every_channel(stack: LocalStack) -> None:
    payloads = [serialize(stripe_event("payment_intent.payment_failed")) for _ in range(4)]
    webhooks_queue = stack.resources["WebhooksQueue"]["QueueUrl"]
    sqs = aws_client("sqs", stack.moto_url, stack.region)

    # Given two failed payments, the second delivered twice by Stripe: two, not three
    for payload in (payloads[0], payloads[1], payloads[1]):
        assert post_webhook(stack, payload, WEBHOOK_SECRET)[0] == 200
    wait_until(lambda: queue_depth(sqs, webhooks_queue) == 0, timeout=30)
    time.sleep(1)
    assert payment_failure_messages(stack) == {}
    assert not [a for a in alerts(stack) if a["type"] == "payment_failure"]

    # When the third one arrives, one notification reaches every channel
    assert post_webhook(stack, payloads[2], WEBHOOK_SECRET)[0] == 200
    wait_until(
        lambda: payment_failure_messages(stack).keys() >= {"email", "sms", "slack"},
        timeout=45,
        message="payment_failure not delivered on every channel",
    )
    firing = [a for a in alerts(stack) if a["type"] == "payment_failure"]
    assert len(firing) == 1
    assert (firing[0]["severity"], firing[0]["status"], firing[0]["window_count"]) == ("critical", "firing", 3)

    # And a fourth failure within the throttle period is counted on the alert but sends nothing
    assert post_webhook(stack, payloads[3], WEBHOOK_SECRET)[0] == 200
    wait_until(
        lambda: [a for a in alerts(stack) if a["type"] == "payment_failure" and a["suppressed"] == 1], timeout=30
    )
    time.sleep(1)
    # one publication on the alerts topic, one message per channel
    assert payment_failure_messages(stack) == {"sns": 1, "email": 1, "sms": 1, "slack": 1}
