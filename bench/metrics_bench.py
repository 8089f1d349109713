"""`make bench`, metric store part: a scrape of 1k, 10k and 100k series kept in Redis, beside
`prometheus_client.generate_latest` of the same series held in memory, in the same run.

The series are written straight into the store's Redis layout with pipelined HSET/SADD (Redis
database 15 by default, BENCH_REDIS_URL to change it; its store keys are cleared before and after),
and the same label sets go into an in-memory CollectorRegistry as a labelled Counter (`_created`
series off, so that both expose the same samples). Measured, as medians of interleaved rounds:

- scrape: `exposition.render(RedisMetricBackend(client), "")`, Redis read included;
- generate_latest of the in-memory registry;
- Redis round trips per scrape and per invocation's writes (20 updates, one flush), counted on the
  wire by tests/support/redis_counting.py (the connection class the tests use), and no KEYS/SCAN on
  the server (INFO commandstats);
- at 10k and 100k, where a scrape's time goes: reading Redis, building the families (json.loads of
  the series keys among it), encoding.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import prometheus_client
import redis
from platform_monitoring.observability.catalog import spec
from platform_monitoring.observability.exposition import StoreCollector, render
from platform_monitoring.observability.store import KEY_PREFIX, MetricRecorder, RedisMetricBackend, series_key
from prometheus_client import CollectorRegistry, Counter, generate_latest
from redis.utils import HIREDIS_AVAILABLE

from tests.support.redis_counting import RoundTripCounter, commandstats_delta, counting_client, server_commandstats

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
SIZES = (1_000, 10_000, 100_000)
ROUNDS = {1_000: 15, 10_000: 9, 100_000: 3}
METRIC = spec("http_requests_total")  # a counter with route, method and status
METHODS = ("GET", "POST", "PUT", "DELETE")
INVOCATION_UPDATES = 20
FILL_BATCH = 10_000


@dataclass
class Result:
    series: int
    render_ms: float
    generate_latest_ms: float
    scrape_round_trips: int
    scrape_commands: int
    invocation_updates: int
    invocation_round_trips: int
    flush_ms: float
    body_lines: int
    reference_lines: int

    @property
    def ratio(self) -> float:
        return self.render_ms / self.generate_latest_ms


RESULTS: list[Result] = []  # this run's, for the cost bench and the summary


def label_sets(count: int) -> list[tuple[str, str, str]]:
    return [(f"/api/route-{i // 40}", METHODS[i % 4], str(200 + (i // 4) % 10)) for i in range(count)]


def fill(client: redis.Redis, labels: list[tuple[str, str, str]]) -> None:
    """The store's layout, written directly: hash field per series key, and the series set."""
    values_key, series_set = f"{KEY_PREFIX}:m:{METRIC.name}", f"{KEY_PREFIX}:s:{METRIC.name}"
    pipeline = client.pipeline(transaction=False)
    for index, values in enumerate(labels):
        key = series_key(values)
        pipeline.hset(values_key, key, index + 1)
        pipeline.sadd(series_set, key)
        if len(pipeline) >= FILL_BATCH:
            pipeline.execute()
    pipeline.execute()


def registry_of(labels: list[tuple[str, str, str]]) -> CollectorRegistry:
    registry = CollectorRegistry()
    counter = Counter(METRIC.exposed_name, METRIC.help, METRIC.labels, registry=registry)
    for index, values in enumerate(labels):
        counter.labels(*values).inc(index + 1)
    return registry


def timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def median_ms(function: Callable[[], Any], rounds: int) -> float:
    return statistics.median(timed(function) for _ in range(rounds))


def one_invocation(recorder: MetricRecorder, labels: list[tuple[str, str, str]]) -> None:
    """20 updates on existing series: 10 counters, 2 histogram observations (bucket, sum, count), 4 gauges."""
    for route, method, status in labels[:10]:
        recorder.inc("http_requests_total", route=route, method=method, status=status)
    for method, value in (("GET", 12.0), ("POST", 480.0)):
        recorder.observe("http_request_duration_ms", value, route="/api/health", method=method)
    for queue in ("default", "webhooks", "stripe"):
        recorder.set("queue_size", 1, queue=queue)
    recorder.set("php_memory_usage_bytes", 64e6, function="Bench")


def measure(size: int, client: redis.Redis, counter: RoundTripCounter) -> Result:
    backend = RedisMetricBackend(client)
    backend.clear()
    labels = label_sets(size)
    fill(client, labels)
    registry = registry_of(labels)
    recorder = MetricRecorder(lambda: backend)
    one_invocation(recorder, labels)
    recorder.flush()  # the script is loaded and the connection made before anything is measured

    body, _ = render(backend, "")
    reference = generate_latest(registry).decode()
    body_lines = sum(1 for line in body.splitlines() if line.startswith(METRIC.exposed_name + "{"))
    reference_lines = sum(1 for line in reference.splitlines() if line.startswith(METRIC.exposed_name + "{"))

    renders, references = [], []
    gc.collect()
    for _ in range(ROUNDS[size]):  # interleaved, so that a noisy neighbour hits both alike
        renders.append(timed(lambda: render(backend, "")))
        references.append(timed(lambda: generate_latest(registry)))

    with counter.measure() as scrape:
        render(backend, "")
    one_invocation(recorder, labels)
    updates = len(recorder.buffer.updates)
    with counter.measure() as writes:
        flush_ms = timed(recorder.flush)
    return Result(
        series=size,
        render_ms=statistics.median(renders),
        generate_latest_ms=statistics.median(references),
        scrape_round_trips=len(scrape.requests),
        scrape_commands=len(scrape.commands),
        invocation_updates=updates,
        invocation_round_trips=len(writes.requests),
        flush_ms=flush_ms,
        body_lines=body_lines,
        reference_lines=reference_lines,
    )


class _Fixed:
    """A backend that returns one snapshot taken earlier: the scrape without its Redis read."""

    def __init__(self, snapshot: dict[str, dict[str, float]]) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> dict[str, dict[str, float]]:
        return self._snapshot


def breakdown(size: int, client: redis.Redis) -> str:
    """Where one scrape's time goes (medians): Redis read, families (json.loads among it), encoding."""
    backend = RedisMetricBackend(client)
    rounds = ROUNDS[size]
    snapshot = backend.snapshot()
    fixed = _Fixed(snapshot)
    keys = list(snapshot[METRIC.name])
    read = median_ms(backend.snapshot, rounds)
    families = median_ms(lambda: list(StoreCollector(fixed).collect()), rounds)
    loads = median_ms(lambda: [json.loads(key) for key in keys], rounds)
    rendered = median_ms(lambda: render(fixed, ""), rounds)
    return (
        f"  {size:>7,} series: Redis read (HGETALL x{len(snapshot)} + reply parsing) {read:6.1f} ms, "
        f"families {families:6.1f} ms (json.loads of the keys {loads:5.1f} ms), "
        f"encoding {max(rendered - families, 0.0):6.1f} ms"
    )


def bench_metric_store() -> None:
    counter = RoundTripCounter()
    client = counting_client(REDIS_URL, counter, timeout=30)
    stats_before = server_commandstats(client)
    prometheus_client.disable_created_metrics()
    results: list[Result] = []
    details: list[str] = []
    try:
        for size in SIZES:
            results.append(measure(size, client, counter))
            if size >= 10_000:
                details.append(breakdown(size, client))
    finally:
        prometheus_client.enable_created_metrics()
        RedisMetricBackend(client).clear()
    RESULTS[:] = results
    listing = commandstats_delta(stats_before, server_commandstats(client))
    listing = {name: calls for name, calls in listing.items() if name in {"keys", "scan", "hscan", "sscan"}}
    client.close()

    parser = "hiredis" if HIREDIS_AVAILABLE else "redis-py's Python parser (hiredis not installed)"
    print(f"Metric store scrape vs prometheus_client.generate_latest (median; Redis {REDIS_URL}, {parser})")
    print(
        "   series   scrape   generate_latest   ratio   round trips/scrape (cmds)"
        "   writes/invocation: updates, round trips, ms"
    )
    for r in results:
        assert r.body_lines == r.reference_lines == r.series, (r.body_lines, r.reference_lines)
        print(
            f"  {r.series:>7,} {r.render_ms:8.1f} ms {r.generate_latest_ms:11.1f} ms {r.ratio:8.2f}x"
            f" {r.scrape_round_trips:12d} ({r.scrape_commands})"
            f" {r.invocation_updates:22d} {r.invocation_round_trips:6d} {r.flush_ms:7.2f}"
        )
    print("  where a scrape's time goes:")
    for line in details:
        print(line)
    print(f"  KEYS/SCAN calls on the server during the bench: {sum(listing.values())}")

    at_10k = next(r for r in results if r.series == 10_000)
    trips = {(r.scrape_round_trips, r.invocation_round_trips) for r in results}
    fast = at_10k.render_ms <= at_10k.generate_latest_ms
    flat = len(trips) == 1 and not listing
    print(
        f"  at 10k series the scrape takes {at_10k.ratio:.2f}x generate_latest: "
        + ("within" if fast else "OVER")
        + " the target (<= 1.00x)"
    )
    print(
        "  round trips per scrape and per invocation "
        + (f"stay at {trips.pop()} from 1k to 100k series: within" if flat else f"vary ({sorted(trips)}): OVER")
        + " the target"
    )
    from bench import summary

    at_100k = next(r for r in results if r.series == 100_000)
    summary.record("scrape at 100k vs generate_latest", f"{at_100k.ratio:.2f}x", "<= 1.00x", at_100k.ratio <= 1.0)
    summary.record(
        "Redis round trips per scrape", str(at_100k.scrape_round_trips), "1", flat and at_100k.scrape_round_trips == 1
    )
    if not fast:
        print(
            "  the gap is the Redis read (reply parsing in pure Python without hiredis) and json.loads of every "
            "series key on every scrape; see the breakdown above"
        )


if __name__ == "__main__":
    bench_metric_store()
