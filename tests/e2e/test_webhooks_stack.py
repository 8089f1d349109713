"""Stripe webhooks end to end on the local stack: POST /api/webhooks/stripe on 127.0.0.1 (API Gateway
emulation) -> StripeWebhookFunction -> SQS (moto) -> WebhookProcessorFunction (the SQS poller, batch
size 10, partial batch responses) -> DynamoDB idempotency records -> Redis -> GET /api/metrics.

The webhooks queue's visibility timeout is shortened to 2 s after start (the template's 60 s would
make five retries take five minutes); everything else is the template's.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from platform_monitoring.observability.store import RedisMetricBackend

from localdev.stack import LocalStack
from localdev.template import aws_client
from tests.support.local_stack import local_stack, queue_depth
from tests.support.samples import Samples, value
from tests.support.stack_calls import scrape
from tests.support.stripe_events import serialize, sign, stripe_event
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SECRET, OLD_SECRET = "whsec_stack_current", "whsec_stack_previous"
METRICS_SECRET = "webhooks-metrics-secret"
REDIS_URL = "redis://127.0.0.1:6379/11"
VISIBILITY_SECONDS = 2


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    RedisMetricBackend(redis.Redis.from_url(REDIS_URL)).clear()
    environ = {
        **os.environ,
        "STRIPE_WEBHOOK_SECRET": f"{SECRET},{OLD_SECRET}",
        "METRICS_SECRET": METRICS_SECRET,
        "REDIS_URL": REDIS_URL,
        "DB_DATABASE": "test",
    }
    only = ("StripeWebhookFunction", "WebhookProcessorFunction", "MetricsFunction")
    with local_stack(environ=environ, schedules=False, only=only) as running:
        sqs = aws_client("sqs", running.moto_url, running.region)
        sqs.set_queue_attributes(
            QueueUrl=running.resources["WebhooksQueue"]["QueueUrl"],
            Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS)},
        )
        yield running


@pytest.fixture(scope="module")
def sqs(stack: LocalStack) -> Any:
    return aws_client("sqs", stack.moto_url, stack.region)


def post(stack: LocalStack, payload: str, header: str | None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if header is not None:
        headers["Stripe-Signature"] = header
    request = urllib.request.Request(
        f"{stack.api_url}/api/webhooks/stripe", data=payload.encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def webhooks(samples: Samples, event_type: str, status: str) -> float:
    return value(samples, "askproai_stripe_webhooks_total", type=event_type, status=status)


def test_a_signed_webhook_posted_to_the_api_shows_up_in_metrics(stack: LocalStack) -> None:
    before = scrape(stack, METRICS_SECRET)
    payload = serialize(stripe_event("payment_intent.succeeded", amount_received=4242, currency="chf"))

    status, body = post(stack, payload, sign(payload, SECRET))

    assert (status, body) == (200, b'{"received":true}')
    after = wait_until(
        lambda: (
            (s := scrape(stack, METRICS_SECRET))
            and webhooks(s, "payment_intent.succeeded", "processed")
            > webhooks(before, "payment_intent.succeeded", "processed")
            and s
        ),
        timeout=20,
        message="the webhook was not processed",
    )
    assert value(after, "askproai_revenue_processed_cents_total", currency="chf") == 4242
    assert value(after, "askproai_stripe_webhook_duration_ms_count", type="payment_intent.succeeded") >= 1
    assert value(after, "askproai_transaction_duration_ms_count", transaction="stripe_webhook") >= 1


def test_bad_signatures_never_reach_the_queue_and_the_old_secret_still_works(stack: LocalStack) -> None:
    before = scrape(stack, METRICS_SECRET)
    forged = serialize(stripe_event("payment_intent.succeeded", amount_received=100, currency="nok"))
    tampered_from = serialize(stripe_event("payment_intent.succeeded", amount_received=1, currency="nok"))
    expired = serialize(stripe_event("payment_intent.succeeded", amount_received=100, currency="nok"))

    assert post(stack, forged, sign(forged, "whsec_attacker"))[0] == 400
    assert post(stack, forged, sign(tampered_from, SECRET))[0] == 400
    assert post(stack, forged, None)[0] == 400
    assert post(stack, expired, sign(expired, SECRET, timestamp=1_700_000_000))[0] == 400
    # then a good event, signed with the secret being rotated out: once it is counted, anything
    # queued before it has been processed too
    sentinel = serialize(stripe_event("payment_intent.succeeded", amount_received=5, currency="sek"))
    assert post(stack, sentinel, sign(sentinel, OLD_SECRET))[0] == 200

    after = wait_until(
        lambda: (
            (s := scrape(stack, METRICS_SECRET))
            and value(s, "askproai_revenue_processed_cents_total", currency="sek") == 5
            and s
        ),
        timeout=20,
    )
    assert value(after, "askproai_revenue_processed_cents_total", currency="nok") == 0
    processed = "payment_intent.succeeded", "processed"
    assert webhooks(after, *processed) - webhooks(before, *processed) == 1
    assert value(after, "askproai_http_requests_total", route="/api/webhooks/stripe", method="POST", status="400") >= 4


def test_the_same_event_delivered_six_times_at_once_counts_once(stack: LocalStack, sqs: Any) -> None:
    before = scrape(stack, METRICS_SECRET)
    payload = serialize(stripe_event("customer.subscription.created"))
    header = sign(payload, SECRET)

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: post(stack, payload, header)[0], range(6)))

    assert statuses == [200] * 6
    kind = "customer.subscription.created"

    def settled() -> Samples | None:
        s = scrape(stack, METRICS_SECRET)
        seen = sum(webhooks(s, kind, status) - webhooks(before, kind, status) for status in ("processed", "duplicate"))
        return s if seen == 6 else None

    after = wait_until(settled, timeout=30, message="not every delivery was handled")
    assert webhooks(after, kind, "processed") - webhooks(before, kind, "processed") == 1
    assert webhooks(after, kind, "duplicate") - webhooks(before, kind, "duplicate") == 5
    created = "askproai_subscriptions_created_total"
    assert value(after, created) - value(before, created) == 1
    assert queue_depth(sqs, stack.resources["WebhooksQueue"]["QueueUrl"]) == 0


def test_a_poison_message_ends_in_the_dlq_without_blocking_its_batch(stack: LocalStack, sqs: Any) -> None:
    before = scrape(stack, METRICS_SECRET)
    poison = '{"id": "evt_poison", "type": "payment_intent.succeeded", "data": {"object": {"currency": "usd"}}}'
    good = [serialize(stripe_event("charge.refunded")) for _ in range(3)]
    # straight onto the queue, as one batch: the API would never queue an unsigned body
    sqs.send_message_batch(
        QueueUrl=stack.resources["WebhooksQueue"]["QueueUrl"],
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate([good[0], poison, good[1], good[2]])],
    )

    refunds = "askproai_refunds_total"
    wait_until(lambda: value(scrape(stack, METRICS_SECRET), refunds) - value(before, refunds) == 3, timeout=20)
    dlq = stack.resources["WebhooksDeadLetterQueue"]["QueueUrl"]
    landed = wait_until(
        lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"),
        timeout=60,
        message="the poison message never reached the dead-letter queue",
    )
    assert [message["Body"] for message in landed] == [poison]
    after = scrape(stack, METRICS_SECRET)
    failed = webhooks(after, "payment_intent.succeeded", "failed") - webhooks(
        before, "payment_intent.succeeded", "failed"
    )
    assert failed == 5  # one per receive: maxReceiveCount, then the redrive
    assert value(after, refunds) - value(before, refunds) == 3  # its batch was not retried with it
    assert queue_depth(sqs, stack.resources["WebhooksQueue"]["QueueUrl"]) == 0
