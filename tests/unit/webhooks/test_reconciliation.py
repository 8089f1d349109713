"""Stripe reconciliation with in-memory stand-ins: what a run recovers, what it leaves to the webhook,
the checkpoint and its lease, the 30-day horizon, and the back-off on Stripe's 429."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.webhooks.processor import DUPLICATE, HANDLERS, PROCESSED, WebhookProcessor
from platform_monitoring.webhooks.reconciliation import (
    CHECKPOINT_NAME,
    MISSED,
    STRIPE_EVENT_HORIZON_SECONDS,
    Reconciler,
    StripeEventSource,
    parse_since,
)

from tests.support.fakes import InMemoryMetricBackend
from tests.support.reconciliation import FakeEventSource, InMemoryCheckpointStore
from tests.support.stripe_events import InMemoryPersistenceLayer, serialize, stripe_event

NOW = 1_800_000_000
OVERLAP, SETTLE = 300, 120


class RecordingAlerts:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def alert(self, alert_type: str, context: dict[str, Any], /) -> object:
        self.calls.append((alert_type, context))
        return None

    def of(self, alert_type: str) -> list[dict[str, Any]]:
        return [context for kind, context in self.calls if kind == alert_type]


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reconciler(
    source: FakeEventSource,
    processor: WebhookProcessor,
    checkpoints: InMemoryCheckpointStore | None = None,
    clock: Clock | None = None,
) -> Reconciler:
    return Reconciler(
        source,
        processor,
        checkpoints or InMemoryCheckpointStore(),
        event_types=tuple(HANDLERS),
        overlap_seconds=OVERLAP,
        settle_seconds=SETTLE,
        clock=clock or Clock(),
    )


def counter(backend: InMemoryMetricBackend, name: str) -> dict[tuple[str, ...], float]:
    recorder.flush()
    values = backend.snapshot().get(f"askproai_{name}", {})
    return {tuple(json.loads(key)): value for key, value in values.items()}


def processor_and_alerts() -> tuple[WebhookProcessor, RecordingAlerts]:
    alerts = RecordingAlerts()
    return WebhookProcessor(InMemoryPersistenceLayer(), alerts=alerts), alerts


def with_checkpoint(at: int) -> InMemoryCheckpointStore:
    store = InMemoryCheckpointStore()
    store.items[CHECKPOINT_NAME] = {"checkpoint": at}
    return store


def test_events_whose_webhook_never_arrived_are_processed_once_and_reported(
    metric_store: InMemoryMetricBackend,
) -> None:
    # Given three payments in the last ten minutes, one of them delivered by its webhook
    processor, alerts = processor_and_alerts()
    events = [
        stripe_event("payment_intent.succeeded", created=NOW - age, amount_received=1000) for age in (600, 400, 200)
    ]
    events.append(stripe_event("payment_intent.payment_failed", created=NOW - 500))
    assert processor.process(serialize(events[1])) == PROCESSED
    source = FakeEventSource(events)

    # When a run reconciles from a checkpoint fifteen minutes old
    run = reconciler(source, processor, with_checkpoint(NOW - 900)).run()

    # Then the three undelivered ones are recovered, the delivered one is a duplicate
    assert (run.recovered, run.duplicates, run.failed, run.outcome) == (3, 1, 0, "ok")
    assert run.missed_types == {"payment_intent.succeeded": 2, "payment_intent.payment_failed": 1}
    assert run.oldest_missed_age_seconds == 600
    assert counter(metric_store, "stripe_webhooks_recovered") == {
        ("payment_intent.succeeded",): 2,
        ("payment_intent.payment_failed",): 1,
    }
    assert counter(metric_store, "stripe_webhooks")[("payment_intent.succeeded", "processed")] == 3
    assert counter(metric_store, "revenue_processed_cents")[("usd",)] == 3000
    # ... the payment failure's own alert is raised, and one stripe_events_missed for the run
    assert len(alerts.of("payment_failure")) == 1
    [missed] = alerts.of(MISSED)
    assert (missed["count"], missed["oldest_age_seconds"]) == (3, 600)
    assert "payment_intent.succeeded x2" in missed["types"]


def test_the_late_webhook_after_reconciliation_counts_nothing(metric_store: InMemoryMetricBackend) -> None:
    processor, _ = processor_and_alerts()
    event = stripe_event("payment_intent.succeeded", created=NOW - 600, amount_received=700)
    reconciler(FakeEventSource([event]), processor, with_checkpoint(NOW - 900)).run()

    assert processor.process(serialize(event)) == DUPLICATE
    assert counter(metric_store, "revenue_processed_cents")[("usd",)] == 700
    assert counter(metric_store, "stripe_webhooks")[("payment_intent.succeeded", "duplicate")] == 1


def test_nothing_missed_raises_nothing_and_costs_one_request_per_type(metric_store: InMemoryMetricBackend) -> None:
    processor, alerts = processor_and_alerts()
    delivered = stripe_event("payment_intent.succeeded", created=NOW - 600)
    processor.process(serialize(delivered))
    source = FakeEventSource([delivered])

    run = reconciler(source, processor, with_checkpoint(NOW - 900)).run()

    assert (run.recovered, run.duplicates) == (0, 1)
    assert alerts.of(MISSED) == []
    assert run.api_calls == len(HANDLERS)
    assert counter(metric_store, "stripe_webhooks_recovered") == {}


def test_the_window_overlaps_the_checkpoint_and_leaves_events_in_flight() -> None:
    processor, _ = processor_and_alerts()
    checkpoints = with_checkpoint(NOW - 900)
    before_overlap = stripe_event("payment_intent.succeeded", created=NOW - 900 - OVERLAP - 1)
    in_overlap = stripe_event("payment_intent.succeeded", created=NOW - 900 - OVERLAP + 1)
    in_flight = stripe_event("payment_intent.succeeded", created=NOW - SETTLE + 1)  # its webhook is on its way
    run = reconciler(FakeEventSource([before_overlap, in_overlap, in_flight]), processor, checkpoints).run()

    assert (run.since, run.until, run.recovered) == (NOW - 900 - OVERLAP, NOW - SETTLE, 1)
    assert checkpoints.items[CHECKPOINT_NAME] == {"checkpoint": NOW - SETTLE}  # moved on, lease given back


def test_the_first_run_ever_starts_now_and_does_not_call_history_missed() -> None:
    processor, alerts = processor_and_alerts()
    old = stripe_event("payment_intent.succeeded", created=NOW - 3600)
    checkpoints = InMemoryCheckpointStore()
    run = reconciler(FakeEventSource([old]), processor, checkpoints).run()

    assert (run.recovered, alerts.of(MISSED)) == (0, [])
    assert checkpoints.items[CHECKPOINT_NAME]["checkpoint"] == NOW - SETTLE


def test_an_operator_replay_reads_its_range_and_never_rewinds_the_checkpoint() -> None:
    processor, _ = processor_and_alerts()
    checkpoints = with_checkpoint(NOW - 200)
    old = stripe_event("payment_intent.succeeded", created=NOW - 5000)
    seen: list[str] = []
    run = reconciler(FakeEventSource([old]), processor, checkpoints).run(
        since=NOW - 7200, progress=lambda run, step: seen.append(step)
    )

    assert run.recovered == 1
    assert seen == [*HANDLERS, "done"]
    assert checkpoints.items[CHECKPOINT_NAME]["checkpoint"] == NOW - SETTLE  # forward only


def test_a_run_while_another_holds_the_lease_does_nothing(metric_store: InMemoryMetricBackend) -> None:
    processor, _ = processor_and_alerts()
    checkpoints = with_checkpoint(NOW - 900)
    assert checkpoints.acquire(CHECKPOINT_NAME, "the other run", NOW, 900) == NOW - 900
    source = FakeEventSource([stripe_event("payment_intent.succeeded", created=NOW - 600)])

    run = reconciler(source, processor, checkpoints).run()

    assert (run.outcome, run.listed, source.calls) == ("busy", 0, 0)
    assert counter(metric_store, "stripe_reconciliation_runs") == {("busy",): 1}
    # ... and once that lease has expired (the other run died), the next run goes ahead
    later = reconciler(source, processor, checkpoints, clock=Clock(NOW + 901)).run()
    assert (later.outcome, later.recovered) == ("ok", 1)


def test_a_type_that_cannot_be_listed_keeps_the_checkpoint_so_nothing_is_lost() -> None:
    processor, _ = processor_and_alerts()
    checkpoints = with_checkpoint(NOW - 900)
    source = FakeEventSource([stripe_event("payment_intent.succeeded", created=NOW - 600)])
    source.fail_types["charge.refunded"] = ConnectionError("stripe is unreachable (sk_live_abcdefghijklmnop)")

    run = reconciler(source, processor, checkpoints).run()

    assert (run.outcome, run.recovered) == ("partial", 1)
    assert checkpoints.items[CHECKPOINT_NAME]["checkpoint"] == NOW - 900  # not moved past the gap
    assert "charge.refunded: ConnectionError" in run.errors[0]
    assert "sk_live_abcdefghijklmnop" not in run.errors[0]


def test_a_checkpoint_older_than_stripes_30_days_reports_the_gap() -> None:
    processor, alerts = processor_and_alerts()
    checkpoints = with_checkpoint(NOW - STRIPE_EVENT_HORIZON_SECONDS - 3 * 86_400)

    run = reconciler(FakeEventSource([]), processor, checkpoints).run()

    assert run.unrecoverable_gap is not None
    assert run.unrecoverable_gap["seconds"] >= 3 * 86_400
    assert run.since == NOW - STRIPE_EVENT_HORIZON_SECONDS + OVERLAP
    [missed] = alerts.of(MISSED)
    assert missed["unrecoverable_gap"] == "3 days"


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200), ("90m", 5400), ("3d", 259_200), ("45", 45)])
def test_since_durations(text: str, seconds: int) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-2h", "2w", "two hours"])
def test_bad_since_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--since"):
        parse_since(text)


# -- the Stripe library side: back-off on 429 and resuming after the last event ----------
class Page:
    def __init__(self, items: list[dict[str, Any]], has_more: bool, rest: Page | Exception | None = None) -> None:
        self.data = [stripe.Event.construct_from(item, "sk_test_x") for item in items]
        self.has_more = has_more
        self.rest = rest

    def next_page(self) -> Page:
        if isinstance(self.rest, Exception):
            raise self.rest
        assert self.rest is not None
        return self.rest


class Events:
    def __init__(self, answers: list[Page | Exception]) -> None:
        self.answers = answers
        self.params: list[dict[str, Any]] = []

    def list(self, params: dict[str, Any]) -> Page:
        self.params.append(params)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Client:
    def __init__(self, events: Events) -> None:
        self.v1 = type("V1", (), {"events": events})()


def rate_limited() -> stripe.RateLimitError:
    return stripe.RateLimitError("Too many requests", http_status=429)


def test_a_429_backs_off_and_the_listing_resumes_after_the_last_event() -> None:
    first = {"id": "evt_1", "type": "charge.refunded", "created": NOW}
    second = {"id": "evt_2", "type": "charge.refunded", "created": NOW - 1}
    events = Events([Page([first], True, rate_limited()), rate_limited(), Page([second], False)])
    slept: list[float] = []
    source = StripeEventSource(Client(events), sleep=slept.append, backoff_seconds=1.0)  # type: ignore[arg-type]

    listed = [event["id"] for event in source.events("charge.refunded", NOW - 60, NOW)]

    assert listed == ["evt_1", "evt_2"]
    assert [params.get("starting_after") for params in events.params] == [None, "evt_1", "evt_1"]
    assert events.params[0]["created"] == {"gte": NOW - 60, "lte": NOW}
    assert len(slept) == 2 and 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0  # exponential, jittered
    assert (source.calls, source.rate_limited) == (4, 2)


def test_stripe_still_limiting_after_every_attempt_gives_up() -> None:
    events = Events([rate_limited() for _ in range(3)])
    source = StripeEventSource(Client(events), sleep=lambda _: None, max_attempts=3)  # type: ignore[arg-type]
    with pytest.raises(stripe.RateLimitError):
        list(source.events("charge.refunded", NOW - 60, NOW))
    assert source.calls == 3
