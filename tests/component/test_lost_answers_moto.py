"""A conditional write whose answer was lost: the write landed, the connection closed before the reply,
and botocore sent it again. The retry finds its own item and must take it for this delivery's own,
not for an earlier delivery's (before the fix a registration counted nowhere: the load run of
`make bench` found one missing under load; an alert occurrence would not have counted toward its page). Real moto server over HTTP, behind a proxy that forwards
the first request and drops its answer; the bundle's own DynamoDB client (two attempts)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from platform_monitoring.alerting.store import DynamoAlertStore
from platform_monitoring.core import clients
from platform_monitoring.security.events import SecurityEvent
from platform_monitoring.security.rules import BlockingRules
from platform_monitoring.security.stores import DynamoBlockStore

from tests.support.faults import HttpFaultProxy, aws_request
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration

RULES = BlockingRules()


@pytest.fixture(scope="module")
def emulator() -> Iterator[AwsEmulator]:
    with aws_emulator(ses_identities=()) as running:
        yield running


@pytest.fixture
def proxy(emulator: AwsEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpFaultProxy]:
    with HttpFaultProxy(emulator.endpoint_url) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL", running.url)
        for name, value in emulator.env().items():
            if name != "AWS_ENDPOINT_URL":
                monkeypatch.setenv(name, value)
        clients._aws_client.cache_clear()  # a client keeps the endpoint it was built with
        yield running
    clients._aws_client.cache_clear()


def store(emulator: AwsEmulator) -> DynamoBlockStore:
    client = clients.dynamodb_client(2.0)  # AWS_ATTEMPTS["dynamodb"]: the retry that meets its own write
    resources = emulator.resources
    return DynamoBlockStore(
        client, resources["SecurityBlocksTable"]["TableName"], resources["SecurityWindowsTable"]["TableName"]
    )


def security_event(kind: str) -> SecurityEvent:
    return SecurityEvent(id=f"evt-{uuid.uuid4().hex}", type=kind, ip="203.0.113.40", occurred_at=datetime.now(UTC))


@pytest.mark.parametrize(
    ("kind", "operation"),
    [("registration", "PutItem"), ("failed_login", "TransactWriteItems")],  # no window: a marker; two windows
)
def test_a_retry_that_meets_its_own_write_is_the_first_delivery(
    emulator: AwsEmulator, proxy: HttpFaultProxy, kind: str, operation: str
) -> None:
    blocks, event = store(emulator), security_event(kind)
    rules = RULES.applicable(kind)
    assert len(rules) == (0 if kind == "registration" else 2)
    lost = proxy.lose_answers(aws_request("dynamodb", operation))
    # The first attempt's write lands and its answer is lost; botocore's retry finds the item
    assert blocks.add_occurrences(event, rules, expires_at=2_000_000_000) is True
    assert lost.hits == 1, lost.seen
    # A real redelivery of the same event (another invocation) is still recognised
    assert blocks.add_occurrences(event, rules, expires_at=2_000_000_000) is False


def test_an_alert_occurrence_whose_answer_was_lost_counts_once(emulator: AwsEmulator, proxy: HttpFaultProxy) -> None:
    resources = emulator.resources
    alerts = DynamoAlertStore(
        clients.dynamodb_client(2.0),
        resources["AlertsTable"]["TableName"],
        resources["AlertWindowsTable"]["TableName"],
        resources["AlertSilencesTable"]["TableName"],
    )
    alert_id, occurrence = f"payment_failure#{uuid.uuid4().hex[:8]}", f"evt_{uuid.uuid4().hex}"
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    lost = proxy.lose_answers(aws_request("dynamodb", "TransactWriteItems"))
    # The third failed payment's occurrence: written, its answer lost, retried: it counts (it pages)
    assert alerts.add_events(alert_id, now_ms, 1, 2_000_000_000, occurrence_id=occurrence) is True
    assert lost.hits == 1, lost.seen
    assert alerts.count_events(alert_id, now_ms - 1) == 1  # once, not twice
    # and the same Stripe event delivered again is a repeat
    assert alerts.add_events(alert_id, now_ms, 1, 2_000_000_000, occurrence_id=occurrence) is False
    assert alerts.count_events(alert_id, now_ms - 1) == 1
