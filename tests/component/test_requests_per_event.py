"""Requests per event kind, counted on the wire against moto server (the template's tables,
queues and topic): deterministic counts, the bill's inputs (bench/cost_bench.py prices them).

The figures issue 17 set: a further occurrence of an alert already firing and throttled costs
ONE DynamoDB request in alerting (it was three: window write, window count, repeat); a batch of
ten new ordinary webhooks costs two DynamoDB requests per event (Powertools idempotency: the
INPROGRESS put and the COMPLETED update); no Scan on a path an event takes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.support.event_costs import Cost, EventCosts
from tests.support.local_stack import aws_emulator

pytestmark = pytest.mark.integration

IDEMPOTENCY = {"dynamodb.PutItem": 1, "dynamodb.UpdateItem": 1}  # INPROGRESS, then COMPLETED
INGEST = {"sqs.SendMessage": 1}


@pytest.fixture(scope="module")
def costs() -> Iterator[dict[str, Cost]]:
    with aws_emulator() as aws:  # its own moto server: no other test's alert is firing here
        events = EventCosts(aws)
        rows = [events.payment_succeeded(), events.payment_succeeded(10), *events.payment_failures()]
        rows += events.security_events()
        yield {row.kind: row for row in rows}


def per_event(cost: Cost) -> Counter[str]:
    assert all(count % cost.events == 0 for count in cost.operations.values()), cost.operations
    return Counter({operation: count // cost.events for operation, count in cost.operations.items()})


def test_a_payment_that_succeeded_is_one_queue_message_and_two_idempotency_writes(costs: dict[str, Cost]) -> None:
    assert per_event(costs["payment succeeded"]) == Counter({**INGEST, **IDEMPOTENCY})


def test_a_batch_of_ten_new_webhooks_costs_two_dynamodb_requests_per_event(costs: dict[str, Cost]) -> None:
    batch = costs["payment succeeded (batch of 10)"]
    assert batch.per_event("dynamodb") == 2
    assert per_event(batch) == Counter({**INGEST, **IDEMPOTENCY})


def test_a_failed_payment_below_the_threshold_records_and_counts_its_window(costs: dict[str, Cost]) -> None:
    # the occurrence with its "seen" marker (one transaction), then the window's COUNT query
    alerting = {"dynamodb.TransactWriteItems": 1, "dynamodb.Query": 1}
    assert per_event(costs["payment failed, below the threshold"]) == Counter({**INGEST, **IDEMPOTENCY, **alerting})


def test_the_failure_that_fires_claims_the_alert_and_publishes_once_without_a_scan(costs: dict[str, Cost]) -> None:
    alerting = {
        "dynamodb.TransactWriteItems": 1,  # the occurrence
        "dynamodb.Query": 2,  # the window's count, the silences of payment_failure (by-type index)
        "dynamodb.UpdateItem": 3,  # the repeat write (refused: not firing yet), the claim, its episode
        "sns.Publish": 1,
    }
    expected = Counter({**INGEST, **IDEMPOTENCY}) + Counter(alerting)
    assert per_event(costs["payment failed, the one that fires"]) == expected


def test_a_repeat_while_firing_costs_alerting_one_dynamodb_request(costs: dict[str, Cost]) -> None:
    repeat = per_event(costs["payment failed, repeat while firing"])
    assert repeat == Counter({**INGEST, **IDEMPOTENCY}) + Counter({"dynamodb.UpdateItem": 1})
    assert repeat["dynamodb.PutItem"] + repeat["dynamodb.UpdateItem"] - sum(IDEMPOTENCY.values()) == 1


def test_a_duplicate_delivery_is_one_refused_idempotency_put(costs: dict[str, Cost]) -> None:
    assert per_event(costs["duplicate delivery"]) == Counter({"dynamodb.PutItem": 1})


def test_security_events_record_their_windows_and_the_blocking_one_pages(costs: dict[str, Cost]) -> None:
    event = per_event(costs["security event"])
    assert event == Counter({"dynamodb.TransactWriteItems": 2, "dynamodb.Query": 3})
    blocking = per_event(costs["blocking security event"])
    assert blocking["sns.Publish"] == 1 and blocking["dynamodb.Scan"] == 0
    assert blocking.total() == 12, blocking  # ... + the alert's episode


def test_no_event_kind_scans_a_table(costs: dict[str, Cost]) -> None:
    assert [kind for kind, cost in costs.items() if cost.operations["dynamodb.Scan"]] == []
