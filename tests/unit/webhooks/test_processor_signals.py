"""What the webhook processor feeds the absence rules and the card-testing detector: last-seen times per
event type (one field per type per batch, a max), and each payment attempt once, from Stripe's shapes."""

from __future__ import annotations

import time
from typing import Any

from platform_monitoring.observability.metrics import recorder
from platform_monitoring.webhooks.card_testing import CardTestingDetector, Thresholds, card_key
from platform_monitoring.webhooks.processor import WebhookProcessor

from tests.support.alerting import RecordingAlerts
from tests.support.card_testing import InMemoryCardTestingWindow, rule_thresholds
from tests.support.fakes import InMemoryMetricBackend
from tests.support.lambda_context import FakeLambdaContext
from tests.support.stripe_events import InMemoryPersistenceLayer, serialize, sqs_batch, stripe_event, stripe_object

LAST_SEEN = "askproai_stripe_event_last_seen_timestamp_seconds"


class Window(InMemoryCardTestingWindow):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Any]] = []

    def record(self, attempts: Any, now: float, thresholds: Thresholds, *, read: bool) -> Any:
        self.batches.append(list(attempts))
        return super().record(attempts, now, thresholds, read=read)


def make() -> tuple[WebhookProcessor, Window, RecordingAlerts]:
    window, alerts = Window(), RecordingAlerts()
    detector = CardTestingDetector(window, rule_thresholds(), alerts)
    processor = WebhookProcessor(InMemoryPersistenceLayer(), alerts=alerts, card_testing=detector)
    processor.config.register_lambda_context(FakeLambdaContext())  # as handle_batch does
    return processor, window, alerts


def declined_intent(fingerprint: str, code: str = "incorrect_cvc", amount: int = 50, **event: Any) -> dict[str, Any]:
    card = stripe_object("payment_method")
    card["card"] = {**(card.get("card") or {}), "fingerprint": fingerprint}
    error = {"type": "card_error", "code": "card_declined", "decline_code": code, "payment_method": card}
    return stripe_event("payment_intent.payment_failed", last_payment_error=error, amount=amount, **event)


def test_a_batch_raises_last_seen_once_per_type_to_its_newest_event(metric_store: InMemoryMetricBackend) -> None:
    processor, _, _ = make()
    now = int(time.time())
    bodies = [
        serialize(stripe_event("payment_intent.succeeded", created=now - 120)),
        serialize(stripe_event("payment_intent.succeeded", created=now - 30)),
        serialize(stripe_event("customer.created", created=now - 60)),  # ignored, but traffic
    ]
    processor.handle_batch(sqs_batch(bodies), FakeLambdaContext())
    updates = [u for u in recorder.buffer.drain() if u.metric == LAST_SEEN]
    assert sorted((u.op, u.series, u.value) for u in updates) == [
        ("max", '["any"]', now - 30),
        ("max", '["customer.created"]', now - 60),
        ("max", '["payment_intent.succeeded"]', now - 30),
    ]


def test_an_event_from_stripes_future_is_seen_now_not_later(metric_store: InMemoryMetricBackend) -> None:
    processor, _, _ = make()
    before = time.time()
    processor.process(serialize(stripe_event("charge.refunded", created=int(before) + 3600)))
    recorder.flush()
    seen = metric_store.snapshot()[LAST_SEEN]['["charge.refunded"]']
    assert before <= seen <= time.time()


def test_declines_reach_the_detector_once_per_batch_with_hashed_fingerprints(
    metric_store: InMemoryMetricBackend,
) -> None:
    processor, window, _ = make()
    first = declined_intent("Xt5EWLLDS7FJjR1c")
    bodies = [serialize(first), serialize(first), serialize(stripe_event("payment_intent.succeeded"))]
    processor.handle_batch(sqs_batch(bodies), FakeLambdaContext())  # the second copy is a duplicate
    [batch] = window.batches
    decline, success = batch
    assert (decline.succeeded, decline.decline_code, decline.amount) == (False, "incorrect_cvc", 50)
    assert decline.card == card_key("Xt5EWLLDS7FJjR1c") != "Xt5EWLLDS7FJjR1c"
    assert success.succeeded and success.card is None


def test_a_charge_without_a_payment_intent_counts_a_charge_of_one_does_not(metric_store: InMemoryMetricBackend) -> None:
    processor, _, alerts = make()
    direct = stripe_event("charge.failed", resource="charge", failure_code="incorrect_number", payment_intent=None)
    of_intent = stripe_event("charge.failed", resource="charge", failure_code="card_declined", payment_intent="pi_1")
    assert processor.process(serialize(direct)) == "processed"
    assert processor.process(serialize(of_intent)) == "ignored"  # its payment_intent.payment_failed counts it
    [attempt] = processor._attempts
    assert attempt.decline_code == "incorrect_number" and attempt.card == card_key("AOB934RVNwzk6xtn")
    assert [alert_type for alert_type, _ in alerts.calls] == ["payment_failure"]


def test_a_card_testing_burst_through_the_processor_raises_the_alert(metric_store: InMemoryMetricBackend) -> None:
    processor, _, alerts = make()
    bodies = [serialize(declined_intent(f"fp{i:04d}", customer=None)) for i in range(10)]
    processor.handle_batch(sqs_batch(bodies), FakeLambdaContext())
    card_testing = [context for alert_type, context in alerts.calls if alert_type == "card_testing_suspected"]
    assert len(card_testing) == 1
    assert card_testing[0]["distinct_cards"] == 10 and card_testing[0]["small_amount_share"] == "100%"
