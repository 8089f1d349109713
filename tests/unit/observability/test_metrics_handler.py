from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from platform_monitoring.observability.metrics import recorder
from prometheus_client.parser import text_string_to_metric_families

from tests.support.fakes import InMemoryMetricBackend
from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext

SECRET = "unit-metrics-secret"


@pytest.fixture
def metrics_fn() -> ModuleType:
    return cold_start("metrics", {"METRICS_SECRET": SECRET, "SENTRY_LARAVEL_DSN": None})


def scrape(module: ModuleType, headers: dict[str, str]) -> dict[str, Any]:
    event = load_event("metrics.json")
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def content_type(response: dict[str, Any]) -> str:
    return str(response["multiValueHeaders"]["Content-Type"][0])


@pytest.mark.parametrize(
    "headers",
    [{"X-Metrics-Secret": SECRET}, {"Authorization": f"Bearer {SECRET}"}, {"authorization": f"bearer {SECRET}"}],
)
def test_either_header_opens_the_text_format(metrics_fn: ModuleType, headers: dict[str, str]) -> None:
    response = scrape(metrics_fn, headers)
    assert response["statusCode"] == 200
    assert content_type(response).startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response["body"])}
    assert {"askproai_up", "askproai_http_requests", "askproai_queue_size"} <= names


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Metrics-Secret": "nope"}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {SECRET}"}],
)
def test_missing_or_wrong_secret_is_401(metrics_fn: ModuleType, headers: dict[str, str]) -> None:
    response = scrape(metrics_fn, headers)
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "unauthorized"


def test_unconfigured_secret_closes_the_endpoint() -> None:
    module = cold_start("metrics", {"METRICS_SECRET": None})
    response = scrape(module, {"Authorization": "Bearer "})
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["code"] == "not_configured"


def test_openmetrics_when_the_scraper_asks(metrics_fn: ModuleType) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = scrape(metrics_fn, {"X-Metrics-Secret": SECRET, "Accept": accept})
    assert content_type(response).startswith("application/openmetrics-text; version=1.0.0")
    assert response["body"].rstrip().endswith("# EOF")


def test_store_down_is_a_json_503(metrics_fn: ModuleType) -> None:
    class Down(InMemoryMetricBackend):
        def snapshot(self) -> dict[str, dict[str, float]]:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    recorder.use(Down())
    response = scrape(metrics_fn, {"X-Metrics-Secret": SECRET})
    assert response["statusCode"] == 503
    assert json.loads(response["body"]) == {
        "error": {"code": "metric_store_unavailable", "message": "The metric store is not answering"}
    }


def test_scrapes_are_not_counted_as_traffic(metrics_fn: ModuleType, metric_store: InMemoryMetricBackend) -> None:
    scrape(metrics_fn, {"X-Metrics-Secret": SECRET})
    assert metric_store.hashes.get("askproai_http_requests", {}) == {}
    assert metric_store.hashes["askproai_php_memory_usage_bytes"]  # but the process is measured
