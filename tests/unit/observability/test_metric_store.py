from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from platform_monitoring.observability.catalog import CATALOG
from platform_monitoring.observability.exposition import render
from platform_monitoring.observability.store import DROPPED_METRIC, MetricBuffer, MetricRecorder, series_key

from tests.support.fakes import InMemoryMetricBackend
from tests.support.samples import Samples, parse_samples


def scrape(backend: InMemoryMetricBackend) -> Samples:
    """sample name -> {sorted labels: value} from a real parse of the rendered text."""
    body, _ = render(backend, None)
    return parse_samples(body)


def test_counters_add_up_within_and_across_flushes() -> None:
    backend = InMemoryMetricBackend()
    recorder = MetricRecorder(lambda: backend)
    for _ in range(3):
        recorder.inc("revenue_processed_cents", 1999, currency="usd")
        recorder.inc("revenue_processed_cents", 1, currency="usd")
        recorder.flush()
    assert scrape(backend)["askproai_revenue_processed_cents_total"] == {(("currency", "usd"),): 6000.0}


def test_gauge_keeps_the_last_value() -> None:
    backend = InMemoryMetricBackend()
    recorder = MetricRecorder(lambda: backend)
    recorder.set("queue_size", 5, queue="webhooks")
    recorder.set("queue_size", 3, queue="webhooks")
    recorder.flush()
    assert scrape(backend)["askproai_queue_size"] == {(("queue", "webhooks"),): 3.0}


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    backend = InMemoryMetricBackend()
    recorder = MetricRecorder(lambda: backend)
    for value in (3, 7, 7, 120, 99999):
        recorder.observe("external_api_duration_ms", value, service="stripe")
    recorder.flush()
    samples = scrape(backend)
    buckets = {dict(labels)["le"]: v for labels, v in samples["askproai_external_api_duration_ms_bucket"].items()}
    assert buckets["5.0"] == 1 and buckets["10.0"] == 3 and buckets["250.0"] == 4 and buckets["30000.0"] == 4
    assert buckets["+Inf"] == 5
    assert samples["askproai_external_api_duration_ms_count"] == {(("service", "stripe"),): 5.0}
    assert samples["askproai_external_api_duration_ms_sum"] == {(("service", "stripe"),): 3 + 7 + 7 + 120 + 99999}


def test_every_catalog_metric_is_declared_and_labelless_ones_start_at_zero() -> None:
    samples = scrape(InMemoryMetricBackend())
    assert samples["askproai_up"] == {(): 1.0}
    assert samples["askproai_subscriptions_created_total"] == {(): 0.0}
    assert samples["askproai_failed_logins_total"] == {(): 0.0}
    assert samples["askproai_security_events_total"][(("type", "failed_login"),)] == 0.0
    body, _ = render(InMemoryMetricBackend(), None)
    for metric in CATALOG:
        assert f"# TYPE {metric.exposed_name} {metric.type}" in body


def test_series_cap_drops_new_series_and_counts_them() -> None:
    backend = InMemoryMetricBackend()
    recorder = MetricRecorder(lambda: backend, cap=2)
    for currency in ("usd", "eur", "gbp", "jpy"):
        recorder.inc("revenue_processed_cents", 100, currency=currency)
    recorder.flush()
    recorder.inc("revenue_processed_cents", 5, currency="usd")  # known series still counts
    recorder.flush()
    samples = scrape(backend)
    assert samples["askproai_revenue_processed_cents_total"] == {
        (("currency", "usd"),): 105.0,
        (("currency", "eur"),): 100.0,
    }
    dropped = samples[DROPPED_METRIC + "_total"]
    assert dropped == {(("metric", "askproai_revenue_processed_cents"),): 2.0}


def test_wrong_kind_and_unknown_labels_are_programming_errors() -> None:
    buffer = MetricBuffer()
    with pytest.raises(TypeError):
        buffer.set("http_requests_total", 1)
    with pytest.raises(ValueError, match="no label"):
        buffer.inc("revenue_processed_cents", 1, currency="usd", customer="cus_123")
    with pytest.raises(ValueError, match="only goes up"):
        buffer.inc("refunds_total", -1)


def test_updates_of_one_invocation_are_merged_before_the_write() -> None:
    buffer = MetricBuffer()
    for _ in range(100):
        buffer.inc("http_requests_total", route="/api/health", method="GET", status=200)
    assert len(buffer.drain()) == 1
    assert buffer.drain() == []


class BrokenBackend:
    def __init__(self) -> None:
        self.calls = 0

    def apply(self, updates: object, cap: int) -> None:
        self.calls += 1
        raise ConnectionError("Error 111 connecting to redis://:hunter2@cache:6379")

    def snapshot(self) -> dict[str, dict[str, float]]:
        raise ConnectionError("down")


def test_store_outage_never_raises_is_reported_once_and_pauses_retries() -> None:
    broken = BrokenBackend()
    reports: list[tuple[int, bool]] = []
    now = [0.0]
    recorder = MetricRecorder(
        lambda: broken, on_dropped=lambda n, e, first: reports.append((n, first)), clock=lambda: now[0]
    )
    recorder.inc("refunds_total")
    assert recorder.flush() == 0
    recorder.inc("refunds_total")
    recorder.inc("disputes_total")
    assert recorder.flush() == 0  # paused: the store is not even tried
    assert broken.calls == 1
    assert reports == [(1, True), (2, False)]
    now[0] = 11.0
    recorder.inc("refunds_total")
    recorder.flush()
    assert broken.calls == 2


def test_recovery_after_an_outage_resets_the_once_only_log() -> None:
    backend = InMemoryMetricBackend()
    broken = BrokenBackend()
    current: list[object] = [broken]
    now = [0.0]
    firsts: list[bool] = []
    recorder = MetricRecorder(
        lambda: current[0],  # type: ignore[arg-type,return-value]
        on_dropped=lambda n, e, first: firsts.append(first),
        clock=lambda: now[0],
    )
    recorder.inc("refunds_total")
    recorder.flush()
    recorder.use(backend)
    recorder.inc("refunds_total")
    assert recorder.flush() == 1
    recorder.use(broken)  # type: ignore[arg-type]
    recorder.inc("refunds_total")
    recorder.flush()
    assert firsts == [True, True]


LABEL_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=200)
@given(LABEL_TEXT)
def test_any_label_value_round_trips_through_a_parseable_scrape(value: str) -> None:
    backend = InMemoryMetricBackend()
    recorder = MetricRecorder(lambda: backend)
    recorder.set("queue_size", 7, queue=value)
    recorder.flush()
    assert scrape(backend)["askproai_queue_size"] == {(("queue", value),): 7.0}


def test_long_label_values_are_truncated_not_rejected() -> None:
    assert series_key(["x" * 1000]) == f'["{"x" * 200}"]'
