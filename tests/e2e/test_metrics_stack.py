"""GET /api/metrics over real HTTP on the local stack, with the metric store on the real Redis
(database 14) behind a proxy that a test can stop or hang.

- the secret: X-Metrics-Secret or `Authorization: Bearer`, anything else 401;
- content negotiation: the Prometheus text format by default, OpenMetrics when asked;
- what the health endpoint feeds: its requests (by route, method, status), the six check
  gauges, the three queue sizes, the memory gauges; scrapes themselves are not counted;
- a Redis outage: /api/metrics answers 503 with the JSON error, /api/health keeps answering
  (unhealthy) within its time budget, nothing crashes, the outage is logged once per instance,
  and after recovery the scrape works again and new requests are counted.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from platform_monitoring.observability.store import RedisMetricBackend
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from localdev.stack import LocalStack
from tests.support.faults import Mode, TcpProxy
from tests.support.local_stack import local_stack
from tests.support.mysql import database_environment
from tests.support.samples import Samples
from tests.support.stack_calls import scrape
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

METRICS_SECRET = "stack-metrics-secret"
HEALTH_SECRET = "stack-health-secret"
REDIS_DB = 14
CHECK_TIMEOUT = 1.0
STORE_TIMEOUT = 0.5
PROXY_SETTLE = 0.3
RETRY_AFTER = 10.0  # MetricRecorder's pause after a failed write (not configurable by environment)
CHECKS = ("database", "redis", "stripe_api", "queues", "disk", "memory")
QUEUES = ("default", "webhooks", "stripe")
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
# prometheus_client 0.22+ appends "; escaping=underscores"
OPENMETRICS_FORMAT = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# What Prometheus 2.42 sends.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
DROPPED_LOG = "Metric store unavailable; updates are dropped until it answers"


def clear_store(port: int = 6379) -> None:
    client = redis.Redis.from_url(f"redis://127.0.0.1:{port}/{REDIS_DB}")
    RedisMetricBackend(client).clear()
    client.close()


class Logs:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)

    def mark(self) -> int:
        with self._lock:
            return len(self.lines)

    def since(self, mark: int) -> list[str]:
        with self._lock:
            return self.lines[mark:]


@pytest.fixture(scope="module")
def redis_proxy(redis_port: int) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", redis_port) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def logs() -> Logs:
    return Logs()


@pytest.fixture(scope="module")
def stack(redis_proxy: TcpProxy, redis_port: int, mysql_port: int, logs: Logs) -> Iterator[LocalStack]:
    clear_store(redis_port)
    environ = {
        **os.environ,
        "METRICS_SECRET": METRICS_SECRET,
        "HEALTH_CHECK_SECRET": HEALTH_SECRET,
        **database_environment(mysql_port),
        "REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/{REDIS_DB}",
        "HEALTH_CHECK_TIMEOUT_SECONDS": str(CHECK_TIMEOUT),
        "METRICS_STORE_TIMEOUT_SECONDS": str(STORE_TIMEOUT),
    }
    # One instance per function: the outage test follows one recorder through the outage.
    with local_stack(environ=environ, schedules=False, max_instances=1, log=logs) as running:
        yield running
    clear_store(redis_port)


def switch(proxy: TcpProxy, mode: Mode) -> None:
    """set_mode, then let TcpProxy's pipe threads (which poll every 0.2 s) notice: a connection
    made sooner after a switch can be reset by the proxy itself, which is not what is tested here."""
    proxy.set_mode(mode)
    time.sleep(PROXY_SETTLE)


@pytest.fixture(autouse=True)
def redis_forwarding(redis_proxy: TcpProxy) -> Iterator[None]:
    yield
    if redis_proxy.mode != "forward":
        switch(redis_proxy, "forward")


def get(stack: LocalStack, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(f"{stack.api_url}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def health(stack: LocalStack) -> tuple[int, dict[str, object]]:
    status, _, body = get(stack, "/api/health", {"X-Health-Check-Secret": HEALTH_SECRET})
    return status, json.loads(body)


def increase(before: Samples, after: Samples, name: str, labels: tuple[tuple[str, str], ...]) -> float:
    return after[name][labels] - before.get(name, {}).get(labels, 0.0)


def health_requests(samples: Samples) -> float:
    """askproai_http_requests_total of GET /api/health, whatever the status."""
    return sum(
        value
        for labels, value in samples.get("askproai_http_requests_total", {}).items()
        if dict(labels).get("route") == "/api/health" and dict(labels).get("method") == "GET"
    )


# --- the secret -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Metrics-Secret": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {METRICS_SECRET}"},
        {"Authorization": METRICS_SECRET},
        {"X-Metrics-Secret": ""},
    ],
    ids=["none", "wrong-header", "wrong-bearer", "basic-scheme", "no-scheme", "empty"],
)
def test_without_the_secret_401(stack: LocalStack, headers: dict[str, str]) -> None:
    status, response_headers, body = get(stack, "/api/metrics", headers)
    assert status == 401
    assert response_headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "unauthorized"
    assert METRICS_SECRET not in body


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Metrics-Secret": METRICS_SECRET},
        {"Authorization": f"Bearer {METRICS_SECRET}"},
        {"Authorization": f"bearer {METRICS_SECRET}"},
    ],
    ids=["header", "bearer", "bearer-lowercase"],
)
def test_with_the_secret_200(stack: LocalStack, headers: dict[str, str]) -> None:
    status, response_headers, body = get(stack, "/api/metrics", headers)
    assert status == 200, body
    assert response_headers["Cache-Control"] == "no-store"
    assert "askproai_up 1.0" in body.splitlines()


# --- content negotiation ----------------------------------------------------------------------------


def test_default_is_the_prometheus_text_format(stack: LocalStack) -> None:
    status, headers, body = get(stack, "/api/metrics", {"X-Metrics-Secret": METRICS_SECRET})
    assert status == 200
    assert headers["Content-Type"] == TEXT_FORMAT
    assert "# EOF" not in body
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"askproai_up", "askproai_http_requests", "askproai_http_request_duration_ms"} <= names


@pytest.mark.parametrize("accept", ["application/openmetrics-text; version=1.0.0", PROMETHEUS_ACCEPT])
def test_openmetrics_when_the_scraper_asks(stack: LocalStack, accept: str) -> None:
    status, headers, body = get(stack, "/api/metrics", {"X-Metrics-Secret": METRICS_SECRET, "Accept": accept})
    assert status == 200
    assert headers["Content-Type"].startswith(OPENMETRICS_FORMAT)
    assert body.endswith("# EOF\n")
    families = {family.name: family for family in parse_openmetrics(body)}  # the strict parser
    assert families["askproai_up"].samples[0].value == 1.0


# --- what the health endpoint feeds -------------------------------------------------------------------


def test_health_requests_feed_the_http_check_queue_and_memory_series(stack: LocalStack) -> None:
    before = scrape(stack, METRICS_SECRET)
    statuses = [health(stack)[0] for _ in range(2)]
    assert statuses == [200, 200]
    after = scrape(stack, METRICS_SECRET)

    assert health_requests(after) - health_requests(before) == 2
    key = (("method", "GET"), ("route", "/api/health"), ("status", "200"))
    assert increase(before, after, "askproai_http_requests_total", key) == 2
    duration = (("method", "GET"), ("route", "/api/health"))
    assert after["askproai_http_request_duration_ms_count"][duration] >= 2
    assert after["askproai_health_check_status"] == {(("check", check),): 1.0 for check in CHECKS}
    assert set(after["askproai_queue_size"]) == {(("queue", queue),) for queue in QUEUES}
    for gauge in ("askproai_php_memory_usage_bytes", "askproai_php_memory_peak_bytes"):
        assert after[gauge][(("function", "HealthFunction"),)] > 10e6, gauge  # a Python process' RSS
    stripe = (("service", "stripe"),)
    assert increase(before, after, "askproai_external_api_calls_total", stripe) == 2
    assert after["askproai_database_connection_failures_total"] == {(): 0.0}


def test_scrapes_are_not_counted_as_traffic(stack: LocalStack) -> None:
    for _ in range(3):
        samples = scrape(stack, METRICS_SECRET)
    routes = {
        dict(labels)["route"]
        for name in ("askproai_http_requests_total", "askproai_http_request_duration_ms_count")
        for labels in samples.get(name, {})
    }
    assert "/api/metrics" not in routes
    # the metrics function still reports its own memory
    assert samples["askproai_php_memory_usage_bytes"][(("function", "MetricsFunction"),)] > 0


# --- Redis outage (last: it leaves the instances' recorders paused for a while) -----------------------


def test_redis_outage_breaks_neither_endpoint_and_counting_resumes(
    stack: LocalStack, redis_proxy: TcpProxy, logs: Logs
) -> None:
    scrape(stack, METRICS_SECRET)
    assert health(stack)[0] == 200  # both functions warm, their recorders connected
    mark = logs.mark()

    # hang: Redis accepts and never answers
    switch(redis_proxy, "hang")
    started = time.monotonic()
    status, body = health(stack)
    hung_health = time.monotonic() - started
    assert status == 503 and body["status"] == "unhealthy", body
    checks = {check["name"]: check for check in body["checks"]}  # type: ignore[attr-defined]
    assert checks["redis"]["status"] == "failed"
    assert all(checks[name]["status"] == "ok" for name in CHECKS if name != "redis"), checks
    # the redis check's timeout, then the metric flush's store timeout; never the 10 s function timeout
    assert hung_health < CHECK_TIMEOUT + STORE_TIMEOUT + 1.5, hung_health
    print(f"hang: /api/health answered in {hung_health:.2f} s")

    started = time.monotonic()
    status, headers, text = get(stack, "/api/metrics", {"X-Metrics-Secret": METRICS_SECRET})
    hung_scrape = time.monotonic() - started
    assert status == 503, text
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(text)["error"]["code"] == "metric_store_unavailable"
    assert hung_scrape < 2 * STORE_TIMEOUT + 1.5, hung_scrape  # the snapshot, then the scrape's own flush
    print(f"hang: /api/metrics answered 503 in {hung_scrape:.2f} s")

    # down: connection refused
    switch(redis_proxy, "down")
    for _ in range(2):
        status, body = health(stack)
        assert status == 503 and body["status"] == "unhealthy", body
        redis = next(c for c in body["checks"] if c["name"] == "redis")  # type: ignore[attr-defined]
        assert "Connection refused" in redis["message"]
        status, _, text = get(stack, "/api/metrics", {"Authorization": f"Bearer {METRICS_SECRET}"})
        assert status == 503
        assert json.loads(text) == {
            "error": {"code": "metric_store_unavailable", "message": "The metric store is not answering"}
        }

    outage = logs.since(mark)
    assert not [line for line in outage if "Traceback" in line or '"level":"ERROR"' in line], outage
    for function in ("HealthFunction", "MetricsFunction"):
        warnings = [line for line in outage if line.startswith(f"[{function}]") and DROPPED_LOG in line]
        assert len(warnings) == 1, (function, warnings)  # logged once per outage, not per request
        emf = [line for line in outage if line.startswith(f"[{function}]") and "MetricUpdatesDropped" in line]
        assert emf, f"{function}: no MetricUpdatesDropped EMF record"

    # forward again: the scrape answers at once; health's updates are counted once its recorder's
    # pause (RETRY_AFTER after the failed write) is over
    switch(redis_proxy, "forward")
    recovered = scrape(stack, METRICS_SECRET)
    assert recovered["askproai_up"] == {(): 1.0}
    baseline = health_requests(recovered)

    def counted_again() -> bool:
        assert health(stack)[0] == 200
        return health_requests(scrape(stack, METRICS_SECRET)) > baseline

    wait_until(counted_again, timeout=RETRY_AFTER + 5, interval=0.5, message="health requests not counted again")
    baseline = health_requests(scrape(stack, METRICS_SECRET))
    for _ in range(2):
        assert health(stack)[0] == 200
    assert health_requests(scrape(stack, METRICS_SECRET)) - baseline == 2
