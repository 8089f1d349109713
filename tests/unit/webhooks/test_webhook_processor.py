"""WebhookProcessor with an in-memory idempotency store: what each event type does, exactly once,
poison messages failing alone, the alert feed and the stripe_webhook transaction."""

from __future__ import annotations

import itertools
import json
from types import ModuleType
from typing import Any

import pytest
from platform_monitoring.core.config import ConfigurationError
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.observability.performance import PerformanceMonitor
from platform_monitoring.webhooks.processor import WebhookProcessor

from tests.support.alerting import RecordingAlerts
from tests.support.fakes import InMemoryMetricBackend
from tests.support.functions import OFFLINE_ENV, cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.logs import captured_channel
from tests.support.stripe_events import (
    HANDLED_TYPES,
    InMemoryPersistenceLayer,
    serialize,
    sqs_batch,
    stripe_event,
)


def make(
    persistence: InMemoryPersistenceLayer | None = None, alerts: RecordingAlerts | None = None, **kwargs: Any
) -> tuple[WebhookProcessor, InMemoryPersistenceLayer, RecordingAlerts]:
    store = persistence or InMemoryPersistenceLayer()
    sink = alerts or RecordingAlerts()
    return WebhookProcessor(store, alerts=sink, **kwargs), store, sink


def run(processor: WebhookProcessor, *bodies: str) -> tuple[dict[str, Any], list[str]]:
    """Process a batch; returns the partial batch response and the failed bodies."""
    event = sqs_batch(bodies)
    response = processor.handle_batch(event, FakeLambdaContext())
    failed_ids = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    return response, [record["body"] for record in event["Records"] if record["messageId"] in failed_ids]


def counters(backend: InMemoryMetricBackend) -> dict[str, dict[str, float]]:
    recorder.flush()
    return {name: values for name, values in backend.snapshot().items() if values}


def webhooks(backend: InMemoryMetricBackend) -> dict[tuple[str, str], float]:
    values = counters(backend).get("askproai_stripe_webhooks", {})
    return {tuple(json.loads(key)): value for key, value in values.items()}  # type: ignore[misc]


def test_each_event_type_does_what_the_issue_says(metric_store: InMemoryMetricBackend) -> None:
    processor, _, alerts = make()
    bodies = [
        serialize(stripe_event("payment_intent.succeeded", amount_received=2500, currency="eur")),
        serialize(stripe_event("payment_intent.succeeded", amount=1099, amount_received=1099, currency="USD")),
        serialize(stripe_event("payment_intent.payment_failed")),
        serialize(stripe_event("invoice.payment_failed")),
        serialize(stripe_event("customer.subscription.created")),
        serialize(stripe_event("charge.dispute.created")),
        serialize(stripe_event("charge.refunded")),
    ]
    response, failed = run(processor, *bodies)
    assert response == {"batchItemFailures": []} and failed == []
    values = counters(metric_store)
    assert values["askproai_revenue_processed_cents"] == {'["eur"]': 2500, '["usd"]': 1099}
    assert values["askproai_payment_failures"] == {'["insufficient_funds"]': 1, '["invoice"]': 1}
    assert values["askproai_subscriptions_created"] == {"[]": 1}
    assert values["askproai_disputes"] == {"[]": 1}
    assert values["askproai_refunds"] == {"[]": 1}
    assert webhooks(metric_store) == {
        ("payment_intent.succeeded", "processed"): 2,
        ("payment_intent.payment_failed", "processed"): 1,
        ("invoice.payment_failed", "processed"): 1,
        ("customer.subscription.created", "processed"): 1,
        ("charge.dispute.created", "processed"): 1,
        ("charge.refunded", "processed"): 1,
    }
    assert alerts.types() == ["payment_failure", "payment_failure", "stripe_dispute"]
    dispute = alerts.calls[2][1]
    assert dispute["charge"] == "ch_1PgafuB7WZ01zgkWXYmPNZs8" and dispute["amount"] == 1000
    assert "count" not in alerts.calls[0][1]  # AlertingService reads "count" as a number of occurrences


def test_any_other_type_is_acknowledged_counted_by_type_and_logged(metric_store: InMemoryMetricBackend) -> None:
    processor, _, alerts = make()
    with captured_channel("stripe") as output:
        _, failed = run(processor, serialize(stripe_event("customer.created")), serialize(stripe_event("plan.created")))
    assert failed == []
    assert webhooks(metric_store) == {("customer.created", "ignored"): 1, ("plan.created", "ignored"): 1}
    assert "Stripe event customer.created acknowledged (no handler)" in output.getvalue()
    assert alerts.calls == []
    assert "askproai_revenue_processed_cents" not in counters(metric_store)


def test_duplicates_in_one_batch_and_across_batches_count_once(metric_store: InMemoryMetricBackend) -> None:
    payload = serialize(stripe_event("payment_intent.payment_failed", event_id="evt_dup"))
    processor, store, alerts = make()
    _, failed = run(processor, payload, payload, payload)
    assert failed == []
    # a redelivery to another instance (no local cache): the stored record decides
    other, _, other_alerts = make(persistence=store)
    _, failed = run(other, payload)
    assert failed == []
    assert webhooks(metric_store) == {
        ("payment_intent.payment_failed", "processed"): 1,
        ("payment_intent.payment_failed", "duplicate"): 3,
    }
    assert counters(metric_store)["askproai_payment_failures"] == {'["insufficient_funds"]': 1}
    assert alerts.types() == ["payment_failure"] and other_alerts.calls == []
    assert store.statuses() == ["COMPLETED"]


def test_an_event_in_progress_elsewhere_is_retried_not_counted_and_not_a_failure(
    metric_store: InMemoryMetricBackend,
) -> None:
    payload = serialize(stripe_event("charge.refunded", event_id="evt_busy"))
    store = InMemoryPersistenceLayer()
    blocking = RecordingAlerts()
    first, _, _ = make(persistence=store, alerts=blocking)
    second, _, second_alerts = make(persistence=store)

    # While the first invocation is inside its idempotent call, the second sees INPROGRESS.
    seen: list[Any] = []
    original = first._run

    def run_while_second_arrives(event: dict[str, Any]) -> dict[str, str]:
        seen.append(run(second, payload))
        return original(event)

    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    first._run_once = idempotent_function(
        data_keyword_argument="event", persistence_store=store, config=first.config, key_prefix="stripe-event"
    )(run_while_second_arrives)
    _, failed = run(first, payload)
    assert failed == []
    _response, second_failed = seen[0]
    assert second_failed == [payload]  # reported for retry
    assert webhooks(metric_store) == {("charge.refunded", "processed"): 1}  # not "failed"
    assert second_alerts.calls == []
    # SQS retries it later: by then it is a duplicate
    _, failed = run(second, payload)
    assert failed == []
    assert webhooks(metric_store)[("charge.refunded", "duplicate")] == 1
    assert counters(metric_store)["askproai_refunds"] == {"[]": 1}


def test_a_poison_message_fails_alone_and_feeds_the_failure_rule(metric_store: InMemoryMetricBackend) -> None:
    processor, store, alerts = make()
    good = [serialize(stripe_event("charge.refunded")) for _ in range(3)]
    not_json = '{"id": "evt_broken", "type": '
    no_amount = serialize(stripe_event("payment_intent.succeeded", amount=None, amount_received=None))
    with captured_channel("webhooks") as output:
        _, failed = run(processor, good[0], not_json, good[1], no_amount, good[2])
    assert failed == [not_json, no_amount]
    assert counters(metric_store)["askproai_refunds"] == {"[]": 3}
    assert webhooks(metric_store) == {
        ("charge.refunded", "processed"): 3,
        ("unparseable", "failed"): 1,
        ("payment_intent.succeeded", "failed"): 1,
    }
    assert "askproai_revenue_processed_cents" not in counters(metric_store)
    assert alerts.types() == ["stripe_webhook_failure", "stripe_webhook_failure"]
    assert "Stripe event processing failed; it will be retried" in output.getvalue()
    assert store.statuses() == ["COMPLETED"] * 3  # the failed event left no record, so a retry can run


def test_a_failure_inside_processing_leaves_no_count_and_the_retry_counts_once(
    metric_store: InMemoryMetricBackend,
) -> None:
    payload = serialize(stripe_event("charge.dispute.created", event_id="evt_retry"))
    processor, _store, alerts = make(alerts=RecordingAlerts(fail_times=1))
    _, failed = run(processor, payload)
    assert failed == [payload]
    assert "askproai_disputes" not in counters(metric_store)
    _, failed = run(processor, payload)
    assert failed == []
    assert counters(metric_store)["askproai_disputes"] == {"[]": 1}
    assert webhooks(metric_store) == {
        ("charge.dispute.created", "failed"): 1,
        ("charge.dispute.created", "processed"): 1,
    }
    assert alerts.types() == ["stripe_webhook_failure", "stripe_dispute"]


def test_a_lost_completion_write_counts_nothing(metric_store: InMemoryMetricBackend) -> None:
    payload = serialize(stripe_event("customer.subscription.created", event_id="evt_lost"))
    processor, store, _ = make()
    store.fail_next_update = True
    _, failed = run(processor, payload)
    assert failed == [payload]
    assert "askproai_subscriptions_created" not in counters(metric_store)
    assert store.statuses() == ["INPROGRESS"]  # expires with the invocation; then the retry runs it


@pytest.mark.parametrize("order", list(itertools.islice(itertools.permutations(range(4)), 0, 24, 5)))
def test_events_are_handled_in_any_order(metric_store: InMemoryMetricBackend, order: tuple[int, ...]) -> None:
    events = [
        stripe_event("customer.subscription.created", event_id="evt_o1"),
        stripe_event("invoice.payment_failed", event_id="evt_o2"),
        stripe_event("payment_intent.succeeded", event_id="evt_o3", amount_received=700, currency="gbp"),
        stripe_event("charge.refunded", event_id="evt_o4"),
    ]
    processor, _, _ = make()
    run(processor, *(serialize(events[index]) for index in order))
    values = counters(metric_store)
    assert values["askproai_subscriptions_created"] == {"[]": 1}
    assert values["askproai_payment_failures"] == {'["invoice"]': 1}
    assert values["askproai_revenue_processed_cents"] == {'["gbp"]': 700}
    assert values["askproai_refunds"] == {"[]": 1}


def test_three_failed_payments_feed_three_occurrences_to_the_payment_failure_rule(
    metric_store: InMemoryMetricBackend,
) -> None:
    processor, _, alerts = make()
    failures = [serialize(stripe_event("payment_intent.payment_failed")) for _ in range(3)]
    run(processor, failures[0], failures[1])
    run(processor, failures[1], failures[2], failures[0])  # redeliveries add nothing
    assert alerts.types() == ["payment_failure"] * 3
    assert {context["event_id"] for _, context in alerts.calls} == {json.loads(body)["id"] for body in failures}


def test_each_event_is_timed_as_the_stripe_webhook_transaction(metric_store: InMemoryMetricBackend) -> None:
    processor, _, _ = make(monitor=PerformanceMonitor(slow_transaction_ms=0))  # every one is "slow": logged
    refunded = serialize(stripe_event("charge.refunded", event_id="evt_t1"))
    with captured_channel("performance") as output:
        run(processor, refunded, refunded, "poison")
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    contexts = [line["context"] for line in lines if line["message"] == "Slow transaction: stripe_webhook"]
    assert [(c.get("status_code"), c.get("webhook_type"), c.get("outcome")) for c in contexts] == [
        (200, "charge.refunded", "processed"),
        (200, "charge.refunded", "duplicate"),
        (500, None, None),
    ]
    values = counters(metric_store)
    assert values["askproai_transaction_duration_ms"]['["stripe_webhook"]|count'] == 3
    assert values["askproai_stripe_webhook_duration_ms"]['["charge.refunded"]|count'] == 1
    assert values["askproai_slow_transactions"] == {'["stripe_webhook"]': 3}


@pytest.fixture
def function() -> ModuleType:
    env = {
        "IDEMPOTENCY_TABLE": "IdempotencyTable",
        "ALERTS_TABLE": "AlertsTable",
        "ALERT_WINDOWS_TABLE": "AlertWindowsTable",
        "ALERT_SILENCES_TABLE": "AlertSilencesTable",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:AlertsTopic",
        **OFFLINE_ENV,
    }
    module = cold_start("webhook_processor", env)
    module.processor = WebhookProcessor(InMemoryPersistenceLayer(), alerts=RecordingAlerts())
    return module


def test_the_sample_batch_reports_only_its_poison_message(
    function: ModuleType, metric_store: InMemoryMetricBackend
) -> None:
    event = load_event("webhook_processor_batch.json")
    response = function.lambda_handler(event, FakeLambdaContext())
    poison = [record["messageId"] for record in event["Records"] if not record["body"].startswith("{\n")]
    assert response == {"batchItemFailures": [{"itemIdentifier": poison[0]}]}
    statuses = webhooks(metric_store)
    assert statuses[("payment_intent.succeeded", "duplicate")] == 1
    assert sum(count for (_, status), count in statuses.items() if status == "processed") == len(HANDLED_TYPES)
    assert statuses[("customer.created", "ignored")] == 1


def test_the_processor_function_needs_its_table() -> None:
    with pytest.raises(ConfigurationError, match="IDEMPOTENCY_TABLE"):
        cold_start("webhook_processor", {"IDEMPOTENCY_TABLE": None, "AWS_DEFAULT_REGION": "us-east-1"})
