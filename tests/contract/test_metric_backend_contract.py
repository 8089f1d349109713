"""MetricBackend (observability.store): InMemoryMetricBackend and RedisMetricBackend on the
machine's Redis, one suite.

apply() writes one invocation's updates in order ("inc" adds, "set" replaces, "max" / "min" replace
only a lower / higher value or none); a metric admits a
new series only below the cap, and each refused series is counted once per call in the
dropped-series counter; snapshot() returns every catalogued metric, written or not. Each
non-empty apply() and each snapshot() is one round trip.
"""

from __future__ import annotations

from platform_monitoring.observability.catalog import CATALOG
from platform_monitoring.observability.store import DROPPED_METRIC, MetricBackend, MetricBuffer, Update, series_key

from tests.contract.harness import RACERS, race

REFUNDS = "askproai_refunds"
SLOW = "askproai_slow_transactions"
QUEUE = "askproai_queue_size"
CAP = 1000


def inc(metric: str, series: str, value: float = 1.0, field: str | None = None) -> Update:
    return Update("inc", metric, series, field or series, value)


def put(metric: str, series: str, value: float, field: str | None = None) -> Update:
    return Update("set", metric, series, field or series, value)


def test_a_fresh_store_lists_every_metric_with_no_series(metric_backend: MetricBackend) -> None:
    assert metric_backend.snapshot() == {metric.name: {} for metric in CATALOG}


def test_counters_add_gauges_replace_and_histograms_keep_their_fields(metric_backend: MetricBackend) -> None:
    for invocation in range(3):
        buffer = MetricBuffer()
        buffer.inc("revenue_processed_cents", 1999, currency="usd")
        buffer.inc("revenue_processed_cents", 1, currency="usd")
        buffer.inc("revenue_processed_cents", 50, currency="eur")
        buffer.set("queue_size", 10 + invocation, queue="webhooks")
        buffer.observe("external_api_duration_ms", 7.5, service="stripe")
        buffer.observe("external_api_duration_ms", 4000, service="stripe")
        metric_backend.apply(buffer.drain(), CAP)

    snapshot = metric_backend.snapshot()
    assert snapshot["askproai_revenue_processed_cents"] == {'["usd"]': 6000.0, '["eur"]': 150.0}
    assert snapshot[QUEUE] == {'["webhooks"]': 12.0}
    durations = snapshot["askproai_external_api_duration_ms"]
    stripe = '["stripe"]'
    assert durations[f"{stripe}|count"] == 6.0 and durations[f"{stripe}|sum"] == 3 * 4007.5
    assert sum(value for name, value in durations.items() if name.split("|")[1].isdigit()) == 6.0
    written = {"askproai_revenue_processed_cents", QUEUE, "askproai_external_api_duration_ms"}
    assert all(values == {} for name, values in snapshot.items() if name not in written)


def test_updates_apply_in_their_order(metric_backend: MetricBackend) -> None:
    metric_backend.apply(
        [put(QUEUE, '["a"]', 5), inc(QUEUE, '["a"]', 2), inc(QUEUE, '["b"]', 2), put(QUEUE, '["b"]', 5)], CAP
    )
    assert metric_backend.snapshot()[QUEUE] == {'["a"]': 7.0, '["b"]': 5.0}


LAST_SEEN = "askproai_stripe_event_last_seen_timestamp_seconds"


def test_max_and_min_keep_the_extreme_whatever_order_the_writers_flush_in(metric_backend: MetricBackend) -> None:
    paid, any_type = '["payment_intent.succeeded"]', '["any"]'
    metric_backend.apply([Update("max", LAST_SEEN, paid, paid, 1000.0)], CAP)
    metric_backend.apply(
        [Update("max", LAST_SEEN, paid, paid, 900.0), Update("max", LAST_SEEN, any_type, any_type, 900.0)], CAP
    )
    metric_backend.apply([Update("max", LAST_SEEN, any_type, any_type, 1100.5)], CAP)
    assert metric_backend.snapshot()[LAST_SEEN] == {paid: 1000.0, any_type: 1100.5}
    watched = "askproai_absence_watch_started_timestamp_seconds"
    rule = '["webhooks_absent"]'
    for value in (500.0, 700.0, 400.0, 450.0):
        metric_backend.apply([Update("min", watched, rule, rule, value)], CAP)
    assert metric_backend.snapshot()[watched] == {rule: 400.0}


def test_the_buffer_sends_one_max_per_series_of_an_invocation(metric_backend: MetricBackend) -> None:
    buffer = MetricBuffer()
    for created in (300.0, 500.0, 400.0):
        buffer.extreme("max", LAST_SEEN, created, type="charge.refunded")
    updates = buffer.drain()
    assert [(u.op, u.value) for u in updates] == [("max", 500.0)]
    metric_backend.apply(updates, CAP)
    assert metric_backend.snapshot()[LAST_SEEN] == {'["charge.refunded"]': 500.0}


def test_decimal_fractions_add_up_as_redis_adds_them(metric_backend: MetricBackend) -> None:
    """Redis adds in long double and keeps 17 decimal places: 0.1 + 0.2 is 0.3, not
    0.30000000000000004, and an increment below 1e-17 is lost."""
    metric_backend.apply([inc(REFUNDS, "[]", 0.1)], CAP)
    metric_backend.apply([inc(REFUNDS, "[]", 0.2)], CAP)
    metric_backend.apply([inc(SLOW, '["x"]', 0.5), inc(SLOW, '["x"]', 0.25), inc(SLOW, '["tiny"]', 1e-18)], CAP)
    metric_backend.apply([put(QUEUE, '["q"]', 0.1 + 0.2)], CAP)  # a gauge is stored as given
    snapshot = metric_backend.snapshot()
    assert snapshot[REFUNDS] == {"[]": 0.3}
    assert snapshot[SLOW] == {'["x"]': 0.75, '["tiny"]': 0.0}
    assert snapshot[QUEUE] == {'["q"]': 0.30000000000000004}


def test_a_metric_admits_new_series_only_below_the_cap(metric_backend: MetricBackend) -> None:
    cap = 3
    first = [inc(SLOW, series_key([f"t{index}"])) for index in range(cap + 2)]
    # a refused series with several fields in one call is one dropped series
    first.append(inc(SLOW, series_key(["t4"]), 5, field=series_key(["t4"]) + "|extra"))
    metric_backend.apply(first, cap)
    snapshot = metric_backend.snapshot()
    assert snapshot[SLOW] == {series_key([f"t{index}"]): 1.0 for index in range(cap)}
    assert snapshot[DROPPED_METRIC] == {series_key([SLOW]): 2.0}

    # admitted series keep counting at the cap; a refused one is refused (and counted) again
    metric_backend.apply([inc(SLOW, series_key(["t0"])), inc(SLOW, series_key(["t3"]))], cap)
    snapshot = metric_backend.snapshot()
    assert snapshot[SLOW][series_key(["t0"])] == 2.0 and series_key(["t3"]) not in snapshot[SLOW]
    assert snapshot[DROPPED_METRIC] == {series_key([SLOW]): 3.0}


def test_the_cap_is_per_metric(metric_backend: MetricBackend) -> None:
    metric_backend.apply([inc(SLOW, '["a"]'), inc(SLOW, '["b"]'), put(QUEUE, '["webhooks"]', 1)], 1)
    snapshot = metric_backend.snapshot()
    assert snapshot[SLOW] == {'["a"]': 1.0}
    assert snapshot[QUEUE] == {'["webhooks"]': 1.0}
    assert snapshot[DROPPED_METRIC] == {series_key([SLOW]): 1.0}


def test_awkward_series_names_round_trip(metric_backend: MetricBackend) -> None:
    names = ['say "hi"', "new\nline", "ünïcødé 日本語 🚀", "", "|3", "half a surrogate \ud800"]
    metric_backend.apply([inc(SLOW, series_key([name])) for name in names], CAP)
    assert set(metric_backend.snapshot()[SLOW]) == {series_key([name]) for name in names}


def test_each_write_and_each_snapshot_is_one_round_trip(metric_backend: MetricBackend) -> None:
    start = metric_backend.round_trips  # type: ignore[attr-defined]
    metric_backend.apply([inc(REFUNDS, "[]"), put(QUEUE, '["q"]', 1), inc(SLOW, '["x"]')], CAP)
    metric_backend.snapshot()
    metric_backend.apply([], CAP)  # nothing to write: nothing sent
    assert metric_backend.round_trips - start == 2  # type: ignore[attr-defined]


def test_concurrent_writers_give_exact_totals(metric_backend: MetricBackend) -> None:
    rounds = 50

    def writer(index: int) -> None:
        for _ in range(rounds):
            metric_backend.apply([inc(REFUNDS, "[]"), inc(SLOW, '["shared"]', 2), put(QUEUE, '["q"]', index)], CAP)

    assert race(RACERS, writer) == [None] * RACERS
    snapshot = metric_backend.snapshot()
    assert snapshot[REFUNDS] == {"[]": float(RACERS * rounds)}
    assert snapshot[SLOW] == {'["shared"]': float(2 * RACERS * rounds)}
    assert snapshot[QUEUE]['["q"]'] in {float(index) for index in range(RACERS)}  # last writer wins


def test_concurrent_new_series_respect_the_cap(metric_backend: MetricBackend) -> None:
    cap, per_writer = 10, 5

    def writer(index: int) -> None:
        for series in range(per_writer):
            metric_backend.apply([inc(SLOW, series_key([f"w{index}-{series}"]))], cap)

    race(RACERS, writer)
    snapshot = metric_backend.snapshot()
    assert len(snapshot[SLOW]) == cap
    assert snapshot[DROPPED_METRIC] == {series_key([SLOW]): float(RACERS * per_writer - cap)}
