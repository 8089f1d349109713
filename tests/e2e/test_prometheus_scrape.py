"""A real Prometheus (the Debian binary, on a free loopback port) scraping the local stack's
GET /api/metrics with bearer auth, the metric store on the real Redis (database 14).

Before Prometheus starts, two GET /api/health requests feed the HTTP, check, queue, Stripe and
memory series, and the series of the guide's list that have no event source yet in this stack get
one zero update through a MetricRecorder on the same database (label-less counters are exposed at
0 by the collector already). Then: the target is up, `askproai_up` is 1, every series of the
guide's list is in Prometheus, every dashboard and rule expression evaluates without error, the
rules evaluate, `promtool check metrics` accepts the live scrape body, scrapes are not counted as
traffic, and a target with the wrong token is down with a 401.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from platform_monitoring.observability.store import MetricRecorder, RedisMetricBackend

from localdev.stack import LocalStack
from tests.assets.prometheus_server import (
    PrometheusServer,
    ScrapeTarget,
    ensure_prometheus_installed,
    running_prometheus,
)
from tests.assets.promql import all_expressions, to_promql
from tests.support.local_stack import local_stack
from tests.support.mysql import database_environment

pytestmark = pytest.mark.integration

METRICS_SECRET = "prometheus-scrape-secret"
HEALTH_SECRET = "prometheus-health-secret"
REDIS_DB = 14
JOB = "askproai-stack"
WRONG_JOB = "askproai-stack-wrong-token"

# The guide's Available Metrics list, as Prometheus stores the series.
GUIDE_SERIES = (
    "askproai_up",
    "askproai_php_memory_usage_bytes",
    "askproai_php_memory_peak_bytes",
    "askproai_http_requests_total",
    "askproai_http_request_duration_ms_bucket",
    "askproai_http_requests_errors_total",
    'askproai_queue_size{queue="default"}',
    'askproai_queue_size{queue="webhooks"}',
    'askproai_queue_size{queue="stripe"}',
    "askproai_subscriptions_created_total",
    "askproai_revenue_processed_cents_total",
    "askproai_portal_registrations_total",
    "askproai_portal_logins_total",
    "askproai_failed_logins_total",
    "askproai_blocked_ips_total",
    "askproai_rate_limit_violations_total",
    "askproai_external_api_calls_total",
    "askproai_external_api_errors_total",
    "askproai_external_api_duration_ms_bucket",
)
# Series with labels whose events come with later issues: one zero update each (a counter at 0).
SEEDS = (
    ("http_requests_errors_total", {"route": "/api/health", "method": "GET", "status": "503"}),
    ("revenue_processed_cents", {"currency": "usd"}),
    ("external_api_errors_total", {"service": "stripe"}),
)
MS_LINT = {
    f"askproai_{name} metric names should not contain abbreviated units"
    for name in ("http_request_duration_ms", "stripe_webhook_duration_ms", "external_api_duration_ms")
}
EXPRESSIONS = all_expressions()


def clear_store() -> None:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    RedisMetricBackend(client).clear()
    client.close()


def seed_store() -> None:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    backend = RedisMetricBackend(client)
    recorder = MetricRecorder(lambda: backend)
    for name, labels in SEEDS:
        recorder.inc(name, 0, **labels)
    assert recorder.flush() == len(SEEDS)
    client.close()


def get_metrics(stack: LocalStack, token: str = METRICS_SECRET) -> str:
    request = urllib.request.Request(f"{stack.api_url}/api/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.read().decode())


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    clear_store()
    environ = {
        **os.environ,
        "METRICS_SECRET": METRICS_SECRET,
        "HEALTH_CHECK_SECRET": HEALTH_SECRET,
        **database_environment(mysql_port),
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        # Prometheus is the operator's own source: allowlisted, as docs/security.md asks, or the
        # wrong-token job's 401s (failed authentications) would get the address of both jobs blocked.
        "SECURITY_ALLOWLIST": "127.0.0.1",
    }
    try:
        with local_stack(environ=environ, schedules=False, log=lambda line: None) as running:
            for _ in range(2):
                request = urllib.request.Request(
                    f"{running.api_url}/api/health", headers={"X-Health-Check-Secret": HEALTH_SECRET}
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 200
            seed_store()
            yield running
    finally:
        clear_store()


@pytest.fixture(scope="module")
def prometheus(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    ensure_prometheus_installed()
    address = stack.api_url.removeprefix("http://")
    targets = [
        ScrapeTarget(JOB, address, bearer_token=METRICS_SECRET, labels={"stage": "test"}),
        ScrapeTarget(WRONG_JOB, address, bearer_token="not-the-metrics-secret"),
    ]
    with running_prometheus(targets, tmp_path_factory.mktemp("prometheus")) as server:
        server.wait_for_targets(timeout=20, jobs=[JOB], scrapes=3)  # rate() over 1m wants two samples
        yield server


def test_target_is_up_with_the_bearer_secret(prometheus: PrometheusServer) -> None:
    targets = {target["labels"]["job"]: target for target in prometheus.targets()}
    assert targets[JOB]["health"] == "up", targets[JOB]["lastError"]
    assert targets[JOB]["labels"]["stage"] == "test"
    assert [sample["value"][1] for sample in prometheus.query(f'up{{job="{JOB}"}}')] == ["1"]
    assert [sample["value"][1] for sample in prometheus.query(f'askproai_up{{job="{JOB}"}}')] == ["1"]


def test_a_wrong_token_leaves_the_target_down_with_401(prometheus: PrometheusServer) -> None:
    seen: list[str] = []

    def down_with_401() -> dict[str, str] | None:
        # On a loaded machine one scrape can outlast its 1 s timeout (the function's first refusal
        # also builds its security events queue, wiring/refusals.py); the next one answers.
        target = {t["labels"]["job"]: t for t in prometheus.targets()}[WRONG_JOB]
        seen.append(target["lastError"])
        return target if target["health"] == "down" and "401" in target["lastError"] else None

    target = prometheus.wait_for(down_with_401, timeout=30, what="the wrong-token target to be down with 401")
    assert target["health"] == "down" and "401" in target["lastError"], seen[-3:]
    assert [sample["value"][1] for sample in prometheus.query(f'up{{job="{WRONG_JOB}"}}')] == ["0"]


@pytest.mark.parametrize("series", GUIDE_SERIES)
def test_every_series_of_the_guides_list_is_scraped(prometheus: PrometheusServer, series: str) -> None:
    name, _, labels = series.partition("{")
    selector = f'{name}{{job="{JOB}"{"," + labels.rstrip("}") if labels else ""}}}'
    assert prometheus.query(selector), f"{selector} is not in Prometheus"


def test_every_dashboard_and_rule_expression_evaluates(prometheus: PrometheusServer) -> None:
    assert len(EXPRESSIONS) > 20
    errors = {}
    for expression in EXPRESSIONS:
        try:
            prometheus.query(to_promql(expression))
        except Exception as error:  # collect them all, then fail with the list
            errors[expression.source] = str(error)
    assert errors == {}


def test_the_rules_evaluate_without_errors(prometheus: PrometheusServer) -> None:
    def evaluated() -> list[dict[str, object]] | None:
        rules = [rule for group in prometheus.rule_groups() for rule in group["rules"]]
        return rules if rules and all(rule["health"] != "unknown" for rule in rules) else None

    rules = prometheus.wait_for(evaluated, timeout=15, what="every rule to be evaluated")
    assert {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"} == {}


def test_scrapes_are_not_counted_as_traffic(prometheus: PrometheusServer) -> None:
    assert prometheus.query('askproai_http_requests_total{route="/api/metrics"}') == []
    health = prometheus.query(f'askproai_http_requests_total{{job="{JOB}",route="/api/health"}}')
    assert sum(float(sample["value"][1]) for sample in health) == 2


def test_promtool_accepts_the_live_scrape(stack: LocalStack) -> None:
    ensure_prometheus_installed()
    promtool = shutil.which("promtool")
    assert promtool is not None
    body = get_metrics(stack)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body.encode(), capture_output=True, timeout=60, check=False
    )
    findings = {line.strip() for line in (result.stdout + result.stderr).decode().splitlines() if line.strip()}
    assert result.returncode in {0, 3}, findings  # 3: lint findings only
    assert findings <= MS_LINT, findings - MS_LINT
