"""The Done criterion across the two issues: three failed payments within five minutes raise the
payment_failure alert once, duplicates included, with the processor fed into the real
AlertingService (in-memory store and publisher)."""

from __future__ import annotations

from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.webhooks.processor import WebhookProcessor

from tests.support.fakes import InMemoryAlertStore, InMemoryMetricBackend, RecordingPublisher
from tests.support.lambda_context import FakeLambdaContext
from tests.support.stripe_events import InMemoryPersistenceLayer, serialize, sqs_batch, stripe_event


def test_three_failed_payments_raise_the_payment_failure_alert_once(metric_store: InMemoryMetricBackend) -> None:
    publisher = RecordingPublisher()
    service = AlertingService(RuleSet.load(), InMemoryAlertStore(), publisher)
    processor = WebhookProcessor(InMemoryPersistenceLayer(), alerts=service)
    failed = [serialize(stripe_event("payment_intent.payment_failed")) for _ in range(4)]

    sent = []
    for batch in ([failed[0], failed[0]], [failed[1], failed[0]], [failed[2]], [failed[3], failed[2]]):
        assert processor.handle_batch(sqs_batch(batch), FakeLambdaContext()) == {"batchItemFailures": []}
        sent.append(len(publisher.notifications))

    # two distinct failures (and their redeliveries) stay quiet; the third fires; the fourth is throttled
    assert sent == [0, 0, 1, 1]
    assert [n.alert_type for n in publisher.notifications] == ["payment_failure"]
