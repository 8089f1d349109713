"""The Stripe webhook path for `make bench`.

1. Round trips per ingested event and per processed batch, counted on the wire: every AWS
   request through botocore's `before-send` hook (registered on the session before the
   functions create their clients), every Redis request through a counting connection.
   moto server stands in for SQS and DynamoDB, the machine's Redis for the metric store.
2. The ingest handler's warm time without I/O: the whole handler (resolver, signature check,
   parsing, logging, metrics) with an in-memory queue and metric store, and the signature check
   plus parsing alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_REDIS_URL = "redis://127.0.0.1:6379/11"
EVENTS = 20  # ingested events; processed as two batches of 10
WARM_CALLS = 300


class RequestCounter:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def aws(self, event_name: str, **_: Any) -> None:
        # before-send.<service>.<Operation>
        self.counts[event_name.split(".")[1]] += 1

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Channel logs at error level, and the CloudWatch EMF lines (printed to stdout) dropped."""
    names = ("LOG_LEVEL_WEBHOOKS", "LOG_LEVEL_STRIPE", "LOG_LEVEL_PERFORMANCE", "LOG_LEVEL_MONITORING")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "error"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _signed_request(secret: str) -> tuple[str, dict[str, Any]]:
    from tests.support.stripe_events import api_gateway_event, serialize, sign, stripe_event

    payload = serialize(stripe_event("invoice.payment_failed"))  # a 4 KB event, typical of Stripe's
    return payload, api_gateway_event(payload, sign(payload, secret))


def bench_round_trips() -> None:
    import boto3
    import redis
    from platform_monitoring.observability.metrics import recorder
    from platform_monitoring.observability.store import RedisMetricBackend

    from localdev.sources import sqs_event
    from tests.support.functions import cold_start
    from tests.support.lambda_context import FakeLambdaContext
    from tests.support.local_stack import aws_emulator, aws_environment
    from tests.support.redis_counting import RoundTripCounter, counting_client

    counter = RequestCounter()
    redis_counter = RoundTripCounter()
    RedisMetricBackend(redis.Redis.from_url(BENCH_REDIS_URL)).clear()
    with aws_emulator() as aws, quiet_logs():
        os.environ.update(aws_environment(aws.endpoint_url, aws.region))
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-send", counter.aws)  # type: ignore[union-attr]
        env = {
            "STRIPE_WEBHOOK_SECRET": "whsec_bench",
            "WEBHOOKS_QUEUE_URL": aws.resources["WebhooksQueue"]["QueueUrl"],
            "IDEMPOTENCY_TABLE": aws.resources["IdempotencyTable"]["TableName"],
            "ALERTS_TABLE": aws.resources["AlertsTable"]["TableName"],
            "ALERT_WINDOWS_TABLE": aws.resources["AlertWindowsTable"]["TableName"],
            "ALERT_SILENCES_TABLE": aws.resources["AlertSilencesTable"]["TableName"],
            "ALERTS_TOPIC_ARN": aws.resources["AlertsTopic"]["Arn"],
            "REDIS_URL": BENCH_REDIS_URL,
        }
        ingest = cold_start("stripe_webhook", env)
        processor = cold_start("webhook_processor", env)
        recorder.use(RedisMetricBackend(counting_client(BENCH_REDIS_URL, redis_counter)))

        rows: list[tuple[str, Counter[str], int, int]] = []
        before = counter.snapshot()
        with redis_counter.measure() as trips:
            for _ in range(EVENTS):
                _, event = _signed_request("whsec_bench")
                assert ingest.lambda_handler(event, FakeLambdaContext())["statusCode"] == 200
        rows.append(("per ingested event", counter.snapshot() - before, len(trips.requests), EVENTS))

        sqs = aws.client("sqs")
        url, arn = aws.resources["WebhooksQueue"]["QueueUrl"], aws.resources["WebhooksQueue"]["Arn"]
        messages: list[dict[str, Any]] = []
        while len(messages) < EVENTS:
            messages += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        batches = [sqs_event(messages[i : i + 10], arn, aws.region) for i in range(0, EVENTS, 10)]
        before = counter.snapshot()
        with redis_counter.measure() as trips:
            for batch in batches:
                assert processor.lambda_handler(batch, FakeLambdaContext()) == {"batchItemFailures": []}
        rows.append(("per processed batch of 10 new events", counter.snapshot() - before, len(trips.requests), 2))

        again = cold_start("webhook_processor", env)  # another instance: no local cache of the records
        before = counter.snapshot()
        with redis_counter.measure() as trips:
            for batch in batches:
                assert again.lambda_handler(batch, FakeLambdaContext()) == {"batchItemFailures": []}
        rows.append(("per redelivered batch of 10 (duplicates)", counter.snapshot() - before, len(trips.requests), 2))

    print(f"Webhook path: requests on the wire ({EVENTS} events; moto server for SQS and DynamoDB, Redis)")
    print(f"  {'':<42} {'SQS':>6} {'DynamoDB':>9} {'Redis':>6}")
    for label, aws_requests, redis_requests, units in rows:
        print(
            f"  {label:<42} {aws_requests['sqs'] / units:>6.1f} {aws_requests['dynamodb'] / units:>9.1f}"
            f" {redis_requests / units:>6.1f}"
        )
    print("  (the SQS poller's ReceiveMessage/DeleteMessageBatch are Lambda's, not the function's, and not counted)")


def bench_ingest_warm() -> None:
    from platform_monitoring.api.signatures import verify_signature
    from platform_monitoring.observability.metrics import recorder
    from platform_monitoring.webhooks.ingest import parse_event

    from tests.support.fakes import InMemoryMetricBackend
    from tests.support.functions import cold_start
    from tests.support.lambda_context import FakeLambdaContext
    from tests.support.stripe_events import InMemoryQueue

    with quiet_logs():
        module = cold_start(
            "stripe_webhook",
            {"STRIPE_WEBHOOK_SECRET": "whsec_bench", "WEBHOOKS_QUEUE_URL": "https://sqs.invalid/1/q"},
        )
        module.ingest.queue = InMemoryQueue()
        recorder.use(InMemoryMetricBackend())
        payload, event = _signed_request("whsec_bench")
        header = event["headers"]["Stripe-Signature"]
        context = FakeLambdaContext()
        handler, check = [], []
        for _ in range(WARM_CALLS):
            started = time.perf_counter()
            module.lambda_handler(event, context)
            handler.append(time.perf_counter() - started)
            started = time.perf_counter()
            verify_signature(payload, header, ["whsec_bench"], 300)
            parse_event(payload)
            check.append(time.perf_counter() - started)
        rotated = []
        for _ in range(WARM_CALLS):
            started = time.perf_counter()
            verify_signature(payload, header, ["whsec_new", "whsec_bench"], 300)
            rotated.append(time.perf_counter() - started)
    assert len(module.ingest.queue.messages) == WARM_CALLS
    print(f"Ingest handler, warm, no I/O (in-memory queue and metric store; {len(payload)} byte event)")
    for label, samples in (
        ("whole handler (median)", handler),
        ("whole handler (p99)", sorted(handler)[int(len(handler) * 0.99)]),
        ("signature check + parsing (median)", check),
        ("signature check alone, 2nd of 2 secrets", rotated),
    ):
        value = statistics.median(samples) if isinstance(samples, list) else samples
        print(f"  {label:<40} {value * 1000:8.3f} ms")


def bench_webhooks() -> None:
    sys.path.insert(0, str(ROOT))
    bench_round_trips()
    print()
    bench_ingest_warm()
