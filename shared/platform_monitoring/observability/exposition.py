"""The metric store rendered by prometheus_client: a custom collector, not hand-written text.

One `snapshot()` (one pipelined Redis round trip) per scrape feeds every family. Label-less
counters and gauges, and the catalog's seeded label sets, are exposed at 0 before their
first event so that `increase()` in the alert rules sees that first event.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from platform_monitoring.observability.catalog import CATALOG, MetricSpec
from platform_monitoring.observability.store import MetricBackend, series_key


class StoreCollector(Collector):
    def __init__(self, backend: MetricBackend) -> None:
        self._backend = backend

    def collect(self) -> Iterator[Metric]:
        snapshot = self._backend.snapshot()
        for metric in CATALOG:
            values = snapshot.get(metric.name, {})
            if metric.name == "askproai_up":
                values = {series_key([]): 1.0}  # the store answered: this scrape is up
            if metric.type == "histogram":
                yield _histogram(metric, values)
            else:
                yield _simple(metric, values)


@functools.lru_cache(maxsize=262_144)
def _labels(key: str) -> tuple[str, ...]:
    # Series keys repeat scrape after scrape; parsing each once keeps a 10k-series scrape
    # within the time prometheus_client needs for the same series held in memory.
    return tuple(json.loads(key))


@functools.lru_cache(maxsize=262_144)
def _label_dict(names: tuple[str, ...], key: str) -> dict[str, str]:
    # The sample's label dict, built once per series key like _labels: shared by the scrapes'
    # samples, which the exposition only reads.
    return dict(zip(names, _labels(key), strict=False))


def _simple(metric: MetricSpec, values: dict[str, float]) -> Metric:
    counter = metric.type == "counter"
    family = (CounterMetricFamily if counter else GaugeMetricFamily)(metric.name, metric.help, labels=metric.labels)
    series = dict(values)
    defaults = metric.seeds or ((() if not metric.labels else None),)
    for seed in defaults:
        if seed is not None:
            series.setdefault(series_key(seed), 0.0)
    # The samples add_metric would append (a counter's named <name>_total), without its per-call
    # dict(zip()) and argument handling: at 100k series that was a tenth of a scrape.
    sample_name = family.name + "_total" if counter else family.name
    names = tuple(metric.labels)
    family.samples.extend(Sample(sample_name, _label_dict(names, key), series[key]) for key in sorted(series))
    return family


def _histogram(metric: MetricSpec, values: dict[str, float]) -> Metric:
    family = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
    per_series: dict[str, dict[str, float]] = defaultdict(dict)
    for field, value in values.items():
        key, _, part = field.rpartition("|")
        per_series[key][part] = value
    for key in sorted(per_series):
        parts = per_series[key]
        cumulative, buckets = 0.0, []
        for index, bound in enumerate(metric.buckets):
            cumulative += parts.get(str(index), 0.0)
            buckets.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
        buckets.append(("+Inf", parts.get("count", cumulative + parts.get(str(len(metric.buckets)), 0.0))))
        family.add_metric(_labels(key), buckets, sum_value=parts.get("sum", 0.0))
    return family


def render(backend: MetricBackend, accept: str | None) -> tuple[str, str]:
    """(body, content type) for a scrape; OpenMetrics when the scraper's Accept asks for it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(backend))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry).decode("utf-8"), content_type
