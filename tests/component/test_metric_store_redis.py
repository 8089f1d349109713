"""The metric store against the machine's real Redis (database 14, cleared before and after).

What is proven here, with the requests redis-py really sends counted by
tests/support/redis_counting.py (not `backend.round_trips`):

- counters, gauges and histograms survive flush -> Redis -> snapshot -> render, in both formats;
- several OS processes flushing into the same series give exact totals;
- the series cap holds under concurrency: exactly N series admitted, the rest counted as dropped;
- awkward label values survive and the scrape still parses (prometheus_client and promtool);
- one flush = one round trip, one snapshot = one round trip at 10 or 5000 series, never KEYS/SCAN;
- the first flush against a server that does not know the Lua script yet (a private redis-server,
  so that the shared server's script cache is left alone) and a new connection's handshake, measured.
  With redis-py 8.1 and Redis 7.0: a new connection costs 4 handshake round trips (HELLO,
  CLIENT MAINT_NOTIFICATIONS, CLIENT SETINFO x2) plus SELECT on a database other than 0, and the
  first flush on a server without the script 3 (EVALSHA -> NOSCRIPT, SCRIPT LOAD, EVALSHA); every
  flush after that is 1.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
import redis
from platform_monitoring.observability.catalog import CATALOG, DURATION_BUCKETS_MS
from platform_monitoring.observability.exposition import render
from platform_monitoring.observability.store import (
    DROPPED_METRIC,
    KEY_PREFIX,
    MAX_LABEL_LENGTH,
    MetricRecorder,
    RedisMetricBackend,
)

from tests.assets.prometheus_server import ensure_prometheus_installed
from tests.support.redis_counting import (
    RoundTripCounter,
    commandstats_delta,
    counting_client,
    private_redis_server,
    server_commandstats,
)
from tests.support.samples import Samples, parse_samples

pytestmark = pytest.mark.integration

REDIS_URL = ""  # this module's own redis-server, set by own_server() below


@pytest.fixture(scope="module", autouse=True)
def own_server() -> Iterator[str]:
    """The module's own redis-server (tests/support/redis_counting.py): the server-side command
    statistics below count this module's commands only, whatever else talks to the machine's Redis
    meanwhile (`make test` runs the end-to-end tests in a second pytest session at the same time)."""
    global REDIS_URL  # noqa: PLW0603 - read by the helpers below at call time
    with private_redis_server() as url:
        REDIS_URL = url
        yield url


OPENMETRICS = "application/openmetrics-text; version=1.0.0"
FORBIDDEN = ("keys", "scan", "hscan", "sscan")
PROCESSES = 4
INVOCATIONS = 250
DURATIONS_MS = (3, 7, 30, 120, 600, 4000, 50000)  # integers: the sums must be exact


def _clear() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    RedisMetricBackend(client).clear()
    client.close()


@pytest.fixture(scope="module", autouse=True)
def never_keys_or_scan(own_server: str) -> Iterator[None]:
    """Server side, over the whole module: the store never lists keys."""
    client = redis.Redis.from_url(REDIS_URL)
    before = server_commandstats(client)
    yield
    delta = commandstats_delta(before, server_commandstats(client))
    client.close()
    assert {name: delta[name] for name in FORBIDDEN if name in delta} == {}


@pytest.fixture
def counter() -> RoundTripCounter:
    return RoundTripCounter()


@pytest.fixture
def client(counter: RoundTripCounter) -> Iterator[redis.Redis]:
    _clear()
    counted = counting_client(REDIS_URL, counter)
    yield counted
    counted.close()
    _clear()
    sent = {name.split()[0].lower() for trip in counter.trips for name in trip.commands}
    assert sent.isdisjoint(FORBIDDEN), sent


@pytest.fixture
def backend(client: redis.Redis) -> RedisMetricBackend:
    return RedisMetricBackend(client)


def scrape(backend: Any, accept: str | None = None) -> Samples:
    """sample name -> {sorted labels: value}, from a real parse of the rendered body."""
    body, _ = render(backend, accept)
    return parse_samples(body, openmetrics=accept == OPENMETRICS)


def le_buckets(samples: Samples, name: str, **labels: str) -> dict[float, float]:
    wanted = set(labels.items())
    return {
        float(dict(key)["le"]): value
        for key, value in samples[f"{name}_bucket"].items()
        if wanted <= set(key) and len(key) == len(labels) + 1
    }


def expected_buckets(values: list[float]) -> dict[float, float]:
    bounds = [*DURATION_BUCKETS_MS, float("inf")]
    return {bound: float(sum(1 for value in values if value <= bound)) for bound in bounds}


# --- semantics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, OPENMETRICS], ids=["text", "openmetrics"])
def test_counter_gauge_and_histogram_round_trip(backend: RedisMetricBackend, accept: str | None) -> None:
    recorder = MetricRecorder(lambda: backend)
    observed = [3.0, 7.5, 7.5, 120.0, 99999.0]
    for invocation in range(3):
        recorder.inc("revenue_processed_cents", 1999, currency="usd")
        recorder.inc("revenue_processed_cents", 1, currency="usd")
        recorder.inc("revenue_processed_cents", 50, currency="eur")
        recorder.set("queue_size", 10 + invocation, queue="webhooks")
        assert recorder.flush() == 3
    for value in observed:
        recorder.observe("external_api_duration_ms", value, service="stripe")
    recorder.flush()

    samples = scrape(backend, accept)
    assert samples["askproai_revenue_processed_cents_total"] == {
        (("currency", "usd"),): 6000.0,
        (("currency", "eur"),): 150.0,
    }
    assert samples["askproai_queue_size"] == {(("queue", "webhooks"),): 12.0}  # the last value wins
    name = "askproai_external_api_duration_ms"
    assert le_buckets(samples, name, service="stripe") == expected_buckets(observed)
    assert samples[f"{name}_count"] == {(("service", "stripe"),): 5.0}
    assert samples[f"{name}_sum"] == {(("service", "stripe"),): sum(observed)}
    assert samples["askproai_up"] == {(): 1.0}


def _invocations(worker: int, url: str) -> tuple[float, float]:
    """One Lambda instance: INVOCATIONS invocations, each recording then flushing (one EVALSHA).
    Returns when its first and last flush happened (CLOCK_MONOTONIC is system wide)."""
    backend = RedisMetricBackend(redis.Redis.from_url(url))
    recorder = MetricRecorder(lambda: backend, retry_after=0)
    _BARRIER.wait(timeout=60)
    started = time.monotonic()
    for invocation in range(INVOCATIONS):
        recorder.inc("http_requests_total", route="/api/health", method="GET", status=200)
        recorder.observe(
            "http_request_duration_ms", DURATIONS_MS[invocation % len(DURATIONS_MS)], route="/api/health", method="GET"
        )
        recorder.inc("revenue_processed_cents", 7, currency="usd")
        recorder.set("php_memory_usage_bytes", 1000 + worker, function="Concurrent")
        if recorder.flush() != 6:  # 2 counters, a gauge, a histogram's bucket, sum and count
            raise RuntimeError(f"worker {worker}: flush {invocation} was dropped")
    return started, time.monotonic()


def _distinct_series(worker: int, url: str, values: int, cap: int) -> None:
    """One instance recording `values` label values of its own, one invocation (flush) each."""
    backend = RedisMetricBackend(redis.Redis.from_url(url))
    recorder = MetricRecorder(lambda: backend, cap=cap, retry_after=0)
    _BARRIER.wait(timeout=60)
    for index in range(values):
        recorder.inc("slow_transactions_total", transaction=f"w{worker}-t{index}")
        if not recorder.flush():
            raise RuntimeError(f"worker {worker}: flush {index} was dropped")


_BARRIER: Any = None


def _set_barrier(barrier: Any) -> None:
    global _BARRIER  # noqa: PLW0603 - one barrier per worker process
    _BARRIER = barrier


def run_in_processes(function: Any, *args: Any) -> list[Any]:
    """function(worker, *args) in PROCESSES fresh processes that start together."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    with ProcessPoolExecutor(PROCESSES, mp_context=context, initializer=_set_barrier, initargs=(barrier,)) as pool:
        futures = [pool.submit(function, worker, *args) for worker in range(PROCESSES)]
        return [future.result(timeout=120) for future in futures]


def test_processes_incrementing_the_same_series_give_exact_totals(backend: RedisMetricBackend) -> None:
    spans = run_in_processes(_invocations, REDIS_URL)
    assert max(start for start, _ in spans) < min(end for _, end in spans), f"the processes did not overlap: {spans}"
    total = PROCESSES * INVOCATIONS
    samples = scrape(backend)
    route = (("method", "GET"), ("route", "/api/health"))
    assert samples["askproai_http_requests_total"] == {(*route, ("status", "200")): float(total)}
    assert samples["askproai_revenue_processed_cents_total"] == {(("currency", "usd"),): 7.0 * total}
    observed = [float(DURATIONS_MS[i % len(DURATIONS_MS)]) for i in range(INVOCATIONS)] * PROCESSES
    name = "askproai_http_request_duration_ms"
    assert le_buckets(samples, name, route="/api/health", method="GET") == expected_buckets(observed)
    assert samples[f"{name}_count"] == {route: float(total)}
    assert samples[f"{name}_sum"] == {route: sum(observed)}
    # a gauge is last-writer-wins: one of the instances' values, never a sum
    assert samples["askproai_php_memory_usage_bytes"][(("function", "Concurrent"),)] in {1000.0 + w for w in range(4)}


def test_series_cap_holds_under_concurrency(backend: RedisMetricBackend, client: redis.Redis) -> None:
    cap, per_process = 25, 20
    run_in_processes(_distinct_series, REDIS_URL, per_process, cap)
    attempted = PROCESSES * per_process
    samples = scrape(backend)
    admitted = samples["askproai_slow_transactions_total"]
    assert len(admitted) == cap
    assert set(admitted.values()) == {1.0}
    assert client.scard(f"{KEY_PREFIX}:s:askproai_slow_transactions") == cap
    dropped = samples[f"{DROPPED_METRIC}_total"]
    assert dropped == {(("metric", "askproai_slow_transactions"),): float(attempted - cap)}

    # Admitted series keep counting at the cap; refused ones are refused (and counted) again.
    recorder = MetricRecorder(lambda: backend, cap=cap)
    for key in admitted:
        recorder.inc("slow_transactions_total", transaction=dict(key)["transaction"])
    recorder.inc("slow_transactions_total", transaction="one-too-many")
    recorder.flush()
    samples = scrape(backend)
    assert set(samples["askproai_slow_transactions_total"].values()) == {2.0}
    assert samples[f"{DROPPED_METRIC}_total"][(("metric", "askproai_slow_transactions"),)] == attempted - cap + 1


AWKWARD = (
    'say "hi"',
    "back\\slash",
    "\\n is not a newline",
    "new\nline",
    "carriage\rreturn",
    "tab\there",
    "bell\x07 escape\x1b nul\x00 del\x7f",
    "ünïcødé 日本語 🚀",
    "",
    '{"json":"inside"}|sum',
    "|3",
    "x" * (MAX_LABEL_LENGTH + 100),
)


def test_awkward_label_values_survive_and_the_scrape_parses(backend: RedisMetricBackend) -> None:
    recorder = MetricRecorder(lambda: backend)
    for value in AWKWARD:
        recorder.inc("slow_transactions_total", transaction=value)
        recorder.observe("external_api_duration_ms", 42, service=value)
    assert recorder.flush() == 4 * len(AWKWARD)  # a counter, and a histogram bucket, sum and count
    expected = {value[:MAX_LABEL_LENGTH] for value in AWKWARD}

    for accept in (None, OPENMETRICS):
        samples = scrape(backend, accept)
        counted = {dict(key)["transaction"]: v for key, v in samples["askproai_slow_transactions_total"].items()}
        assert set(counted) == expected and set(counted.values()) == {1.0}
        histogram = samples["askproai_external_api_duration_ms_count"]
        assert {dict(key)["service"] for key in histogram} == expected

    body, _ = render(backend, None)
    ensure_prometheus_installed()
    promtool = shutil.which("promtool")
    assert promtool is not None
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body.encode(), capture_output=True, timeout=60, check=False
    )
    findings = {line.strip() for line in (result.stdout + result.stderr).decode().splitlines() if line.strip()}
    # exit 3 = lint findings only; the one accepted is the guide's `_ms` histogram name
    assert result.returncode in {0, 3}, findings
    assert findings <= {"askproai_external_api_duration_ms metric names should not contain abbreviated units"}


def test_a_label_value_that_is_not_utf8_costs_only_its_own_series(backend: RedisMetricBackend) -> None:
    recorder = MetricRecorder(lambda: backend)
    recorder.inc("refunds_total")
    recorder.inc("slow_transactions_total", transaction="half a surrogate \ud800")
    recorder.flush()
    recorder.inc("refunds_total")
    recorder.flush()
    assert scrape(backend)["askproai_refunds_total"] == {(): 2.0}


def test_a_non_finite_value_costs_no_other_update(backend: RedisMetricBackend) -> None:
    recorder = MetricRecorder(lambda: backend)
    recorder.inc("refunds_total")
    with contextlib.suppress(ValueError):  # refusing it when recorded would be fine too
        recorder.observe("external_api_duration_ms", float("inf"), service="stripe")
    recorder.inc("disputes_total")
    recorder.flush()
    recorder.inc("refunds_total")
    recorder.flush()
    samples = scrape(backend)
    assert samples["askproai_refunds_total"] == {(): 2.0}
    assert samples["askproai_disputes_total"] == {(): 1.0}


# --- round trips, counted on the wire -------------------------------------------------------------


def many_updates(recorder: MetricRecorder, routes: int = 4) -> None:
    """What a busy invocation records: counters, gauges and histograms over several metrics."""
    for index in range(routes):
        route = f"/api/route-{index}"
        recorder.inc("http_requests_total", route=route, method="GET", status=200)
        recorder.inc("http_requests_errors_total", route=route, method="GET", status=503)
        recorder.observe("http_request_duration_ms", 12.5 * (index + 1), route=route, method="GET")
    for check in ("database", "redis", "stripe_api", "queues", "disk", "memory"):
        recorder.set("health_check_status", 1, check=check)
    recorder.set("php_memory_usage_bytes", 123456, function="Bench")


def test_one_flush_is_one_round_trip(backend: RedisMetricBackend, counter: RoundTripCounter) -> None:
    recorder = MetricRecorder(lambda: backend)
    recorder.inc("refunds_total")
    with counter.measure() as cold:
        recorder.flush()  # a new connection: handshake first
    assert cold.connects == 1 and len(cold.requests) in {1, 3}, cold.summary()  # 3 if Redis lacked the script

    for _ in range(3):
        many_updates(recorder)
        updates = len(recorder.buffer.updates)
        with counter.measure() as warm:
            assert recorder.flush() == updates
        assert updates >= 20
        assert [trip.commands for trip in warm.trips] == [("EVALSHA",)], warm.summary()
        assert warm.connects == 0


@pytest.mark.parametrize("series", [10, 5000])
def test_a_snapshot_is_one_round_trip_whatever_the_series_count(
    backend: RedisMetricBackend, counter: RoundTripCounter, client: redis.Redis, series: int
) -> None:
    recorder = MetricRecorder(lambda: backend, cap=series)
    for index in range(series):
        recorder.inc("http_requests_total", route=f"/api/r{index}", method="GET", status=200)
    assert recorder.flush() == series  # one EVALSHA carries them all
    client.ping()  # connected, so only the snapshot's own requests are measured

    with counter.measure() as snapshot:
        values = backend.snapshot()
    assert len(values["askproai_http_requests"]) == series
    assert [trip.commands for trip in snapshot.trips] == [("HGETALL",) * len(CATALOG)], snapshot.summary()

    with counter.measure() as scrape_trips:
        body, _ = render(backend, None)
    assert len(scrape_trips.trips) == 1, scrape_trips.summary()
    assert body.count("askproai_http_requests_total{") == series


def test_on_a_fresh_server_first_flush_loads_the_script_and_the_server_counts_agree() -> None:
    """A private redis-server: empty script cache, command statistics no other client touches."""
    with private_redis_server() as url:
        counter = RoundTripCounter()
        client = counting_client(url, counter)
        admin = redis.Redis.from_url(url)
        backend = RedisMetricBackend(client)
        recorder = MetricRecorder(lambda: backend)
        try:
            many_updates(recorder)
            with counter.measure() as first:
                recorder.flush()
            # A new connection's handshake, then EVALSHA -> NOSCRIPT, SCRIPT LOAD, EVALSHA (redis-py's Script).
            assert first.connects == 1
            handshake = {name for trip in first.handshakes for name in trip.commands}
            assert handshake <= {"HELLO", "CLIENT MAINT_NOTIFICATIONS", "CLIENT SETINFO", "SELECT"}, first.summary()
            assert [t.commands for t in first.requests] in (
                [("EVALSHA",), ("SCRIPT LOAD",), ("EVALSHA",)],
                [("EVALSHA",), ("EVAL",)],
                [("EVAL",)],
            ), first.summary()

            before = server_commandstats(admin)
            many_updates(recorder)
            with counter.measure() as second:
                recorder.flush()
            with counter.measure() as snapshot:
                backend.snapshot()
            delta = commandstats_delta(before, server_commandstats(admin))
            assert [t.commands for t in second.trips] == [("EVALSHA",)]
            assert len(snapshot.trips) == 1
            assert delta["evalsha"] == 1
            assert delta["hgetall"] == len(CATALOG)
            assert not set(delta) & set(FORBIDDEN)
        finally:
            client.close()
            admin.close()
