"""Exactly once against real DynamoDB (moto server, the template's IdempotencyTable) and real Redis:
several processor instances receiving the same event at the same moment count it once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.observability.store import RedisMetricBackend
from platform_monitoring.webhooks.processor import AlreadyInProgress, WebhookProcessor

from tests.support.lambda_context import FakeLambdaContext
from tests.support.local_stack import AwsEmulator
from tests.support.stripe_events import serialize, stripe_event

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/8"  # the non-end-to-end tests' database (tests/conftest.py)


class SlowAlerts:
    """Holds the first invocation inside its idempotent call long enough for the others to arrive."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def alert(self, alert_type: str, context: dict[str, Any], /) -> object:
        with self._lock:
            self.calls.append(alert_type)
        time.sleep(self.delay)
        return None


@pytest.fixture
def store() -> Iterator[RedisMetricBackend]:
    backend = RedisMetricBackend(redis.Redis.from_url(REDIS_URL))
    backend.clear()
    recorder.use(backend)
    recorder.buffer.drain()
    yield backend
    recorder.buffer.drain()


def requests_to(client: Any) -> list[str]:
    """Operation names of every HTTP request the client sends (botocore's before-send hook)."""
    sent: list[str] = []

    def note(request: Any, **_: Any) -> None:
        target = request.headers["X-Amz-Target"]
        sent.append(target.decode() if isinstance(target, bytes) else target)

    client.meta.events.register("before-send", note)
    return sent


def persistence(aws: AwsEmulator, client: Any | None = None) -> DynamoDBPersistenceLayer:
    table = aws.resources["IdempotencyTable"]["TableName"]
    return DynamoDBPersistenceLayer(table_name=table, boto3_client=client or aws.client("dynamodb"))


def test_simultaneous_deliveries_to_separate_instances_count_once(aws: AwsEmulator, store: RedisMetricBackend) -> None:
    # Given eight "Lambda instances" (own processor, own local cache, own client), one table
    alerts = SlowAlerts(delay=0.5)
    processors = [WebhookProcessor(persistence(aws), alerts=alerts) for _ in range(8)]
    payload = serialize(stripe_event("payment_intent.payment_failed"))
    start = threading.Barrier(len(processors))
    outcomes: list[str] = []

    def deliver(processor: WebhookProcessor) -> None:
        processor.config.register_lambda_context(FakeLambdaContext())
        start.wait()
        try:
            outcomes.append(processor.process(payload))
        except AlreadyInProgress:
            outcomes.append("in_progress")

    # When the same event reaches all of them at once
    threads = [threading.Thread(target=deliver, args=(processor,)) for processor in processors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # ... and SQS redelivers the ones that were told to retry
    retried = [processors[i].process(payload) for i, outcome in enumerate(outcomes) if outcome == "in_progress"]
    recorder.flush()

    # Then exactly one processed it; the rest were duplicates or retried into duplicates
    assert Counter(outcomes)["processed"] == 1, outcomes
    assert set(outcomes) <= {"processed", "duplicate", "in_progress"}
    assert "in_progress" in outcomes  # the race really happened
    assert set(retried) == {"duplicate"}
    assert alerts.calls == ["payment_failure"]
    samples = store.snapshot()
    assert samples["askproai_payment_failures"] == {'["insufficient_funds"]': 1.0}
    assert samples["askproai_stripe_webhooks"]['["payment_intent.payment_failed","processed"]'] == 1.0
    assert (
        "askproai_stripe_webhooks" in samples
        and '["payment_intent.payment_failed","failed"]' not in (samples["askproai_stripe_webhooks"])
    )


def test_records_expire_by_ttl_and_cost_two_writes_then_one(aws: AwsEmulator, store: RedisMetricBackend) -> None:
    client = aws.client("dynamodb")
    sent = requests_to(client)
    event = stripe_event("charge.refunded")
    payload = serialize(event)

    first = WebhookProcessor(persistence(aws, client), expiry_seconds=7 * 24 * 3600)
    first.config.register_lambda_context(FakeLambdaContext())
    assert first.process(payload) == "processed"
    assert sent == ["DynamoDB_20120810.PutItem", "DynamoDB_20120810.UpdateItem"]
    assert first.process(payload) == "duplicate"
    assert len(sent) == 2  # the same instance remembers completed events: no request

    second = WebhookProcessor(persistence(aws, client))
    second.config.register_lambda_context(FakeLambdaContext())
    assert second.process(payload) == "duplicate"
    assert sent[2:] == ["DynamoDB_20120810.PutItem"]  # one conditional put, refused with the stored record

    table = aws.resources["IdempotencyTable"]["TableName"]
    items = client.scan(TableName=table)["Items"]
    item = next(
        i for i in items if i["status"]["S"] == "COMPLETED" and int(i["expiration"]["N"]) < time.time() + 8 * 86400
    )
    assert item["id"]["S"].startswith("stripe-event#")
    assert int(item["expiration"]["N"]) == pytest.approx(time.time() + 7 * 24 * 3600, abs=60)
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiration")
