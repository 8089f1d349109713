"""Stripe reconciliation against the real parts: localstripe's Events API (the Stripe library's paging),
moto server's DynamoDB (the template's IdempotencyTable and StripeReconciliationTable, the alert
tables) and Redis (the metric store).

Payments are made while the bundle's webhook endpoint is unreachable (localstripe delivers to a
closed port); reconciliation recovers them and they are counted exactly once, also when the late
webhook arrives afterwards and when two reconciliations run at the same moment.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import stripe
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.observability.store import RedisMetricBackend
from platform_monitoring.webhooks.processor import DUPLICATE, HANDLERS, WebhookProcessor
from platform_monitoring.webhooks.reconciliation import (
    MISSED,
    DynamoCheckpointStore,
    Reconciler,
    StripeEventSource,
)

from tests.support.alerting import Clock, moto_service
from tests.support.local_stack import AwsEmulator

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/8"  # the non-end-to-end tests' database (tests/conftest.py)
CURRENCY = "chf"  # only this module's payments are in this currency


@pytest.fixture
def store() -> Iterator[RedisMetricBackend]:
    backend = RedisMetricBackend(redis.Redis.from_url(REDIS_URL))
    backend.clear()
    recorder.use(backend)
    recorder.buffer.drain()
    yield backend
    recorder.buffer.drain()


@pytest.fixture(scope="module")
def unreachable_endpoint(localstripe_url: str) -> str:
    """localstripe's webhook pointed at a loopback port nobody listens on: every delivery fails."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = urllib.parse.urlencode(
        {"url": f"http://127.0.0.1:{port}/webhooks/stripe", "secret": "whsec_unreachable"}
    ).encode()
    request = urllib.request.Request(f"{localstripe_url}/_config/webhooks/unreachable", data=body, method="POST")
    request.add_header("Authorization", "Bearer sk_test_local")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return f"http://127.0.0.1:{port}"


def stripe_client(localstripe_url: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_local", base_addresses={"api": localstripe_url}, max_network_retries=0)


def pay(client: stripe.StripeClient, amounts: list[int]) -> list[str]:
    """Card payments that succeed in localstripe; their webhooks go to the unreachable endpoint."""
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    method = client.v1.payment_methods.create(params={"type": "card", "card": card})
    ids = []
    for amount in amounts:
        intent = client.v1.payment_intents.create(
            params={"amount": amount, "currency": CURRENCY, "payment_method": method.id, "confirm": True}
        )
        assert intent.status == "succeeded"
        ids.append(intent.id)
    return ids


def build(aws: AwsEmulator, localstripe_url: str, checkpoint: str) -> tuple[Reconciler, WebhookProcessor]:
    """One "Lambda instance": its own clients, processor and reconciler on the shared tables."""
    dynamodb = aws.client("dynamodb")
    alerting = moto_service(aws, Clock(time.time()))
    processor = WebhookProcessor(
        DynamoDBPersistenceLayer(table_name=aws.resources["IdempotencyTable"]["TableName"], boto3_client=dynamodb),
        alerts=alerting,
        use_local_cache=False,
    )
    reconciler = Reconciler(
        StripeEventSource(stripe_client(localstripe_url)),
        processor,
        DynamoCheckpointStore(dynamodb, aws.resources["StripeReconciliationTable"]["TableName"]),
        event_types=tuple(HANDLERS),
        overlap_seconds=0,  # localstripe's clock is this machine's
        settle_seconds=0,
        checkpoint_name=checkpoint,
    )
    return reconciler, processor


def revenue(backend: RedisMetricBackend) -> float:
    recorder.flush()
    values = backend.snapshot().get("askproai_revenue_processed_cents", {})
    return sum(value for key, value in values.items() if CURRENCY in key)


def recovered(backend: RedisMetricBackend) -> float:
    recorder.flush()
    values = backend.snapshot().get("askproai_stripe_webhooks_recovered", {})
    return values.get(json.dumps(["payment_intent.succeeded"]), 0.0)


def succeeded_events(client: stripe.StripeClient, intents: list[str]) -> list[dict[str, Any]]:
    listed = client.v1.events.list(params={"type": "payment_intent.succeeded", "limit": 100})
    return [event.to_dict() for event in listed.auto_paging_iter() if event.data.object.id in intents]


def test_payments_made_while_the_endpoint_was_unreachable_are_recovered_once(
    aws: AwsEmulator, localstripe_url: str, unreachable_endpoint: str, store: RedisMetricBackend
) -> None:
    # Given a reconciler that has run before (its checkpoint is now), then three payments whose
    # webhooks never arrive
    checkpoint = f"test-{uuid.uuid4().hex[:8]}"
    reconciler, processor = build(aws, localstripe_url, checkpoint)
    assert reconciler.run().outcome == "ok"
    client = stripe_client(localstripe_url)
    intents = pay(client, [1100, 2200, 3300])
    time.sleep(1.1)  # past the second the payments were created in, so the window's end covers them

    # When reconciliation runs
    run = reconciler.run()

    # Then each payment is processed once, counted as recovered, and the operator is told
    assert run.outcome == "ok", run.errors
    assert run.missed_types.get("payment_intent.succeeded") == 3
    assert revenue(store) == 6600
    assert recovered(store) == 3
    active = {record.type: record for record in reconciler.alerts.alerts(status="active")}  # type: ignore[attr-defined]
    assert MISSED in active
    # ... the Stripe library paged through the Events API (one request per type here)
    assert run.api_calls >= len(HANDLERS)

    # And when the late webhooks arrive after all (Stripe's retry, through the queue)
    late = [processor.process(json.dumps(event)) for event in succeeded_events(client, intents)]
    assert late == [DUPLICATE] * 3
    assert revenue(store) == 6600
    # ... and the next run finds nothing new
    again = reconciler.run()
    assert (again.recovered, again.outcome) == (0, "ok")
    assert recovered(store) == 3


def test_two_reconciliations_at_once_count_each_event_once(
    aws: AwsEmulator, localstripe_url: str, unreachable_endpoint: str, store: RedisMetricBackend
) -> None:
    # Given five payments whose webhooks never arrived, and two instances reconciling the same range
    checkpoint = f"test-{uuid.uuid4().hex[:8]}"
    instances = [build(aws, localstripe_url, checkpoint)[0] for _ in range(2)]
    since = int(time.time()) - 1
    pay(stripe_client(localstripe_url), [500, 600, 700, 800, 900])
    time.sleep(1.1)
    start = threading.Barrier(len(instances))
    runs = []

    def reconcile(reconciler: Reconciler) -> None:
        start.wait()
        runs.append(reconciler.run(since=since))

    threads = [threading.Thread(target=reconcile, args=(instance,)) for instance in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # Then one run holds the lease and recovers them; the other stands aside (or, had it started
    # after the first finished, finds only duplicates); the payments are counted once
    assert sorted(run.outcome for run in runs) in (["busy", "ok"], ["ok", "ok"])
    assert sum(run.recovered for run in runs) == 5
    assert revenue(store) == 3500
    assert recovered(store) == 5
