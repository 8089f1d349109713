"""GET /api/alerts/stats on fakes: every rule's figures for 7d (default) or 30d, 400 for another
window, the secret required."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.alerting import ALERTS_API_ENV, ALERTS_API_SECRET, Clock, service
from tests.support.fakes import InMemoryAlertStore, InMemoryDeliveryHistory, RecordingPublisher
from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext


@pytest.fixture(scope="module")
def api() -> Any:
    return cold_start("alerts_api", ALERTS_API_ENV)


@pytest.fixture
def clock(api: Any) -> Clock:
    clock = Clock()
    api.service = service(InMemoryAlertStore(), RecordingPublisher(), clock)
    api.history = InMemoryDeliveryHistory()
    return clock


def get(api: Any, window: str | None, *, secret: str | None = ALERTS_API_SECRET) -> tuple[int, dict[str, Any]]:
    event = load_event("alerts_list.json")
    resource = "/api/alerts/stats"
    query = None if window is None else {"window": window}
    event.update(httpMethod="GET", path=resource, resource=resource, queryStringParameters=query, body=None)
    event["multiValueQueryStringParameters"] = None if query is None else {"window": [window]}
    event["requestContext"].update(httpMethod="GET", resourcePath=resource)
    headers = {"Host": "127.0.0.1:3000", **({"X-Alerts-Secret": secret} if secret else {})}
    event["headers"] = headers
    event["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
    event["pathParameters"] = None
    response = api.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_the_stats_count_an_episode_acknowledged_and_resolved(api: Any, clock: Clock) -> None:
    alerting = api.service
    alerting.alert("payment_failure", {"count": 3})
    clock.advance(90)
    alerting.acknowledge("payment_failure")
    clock.advance(510)
    alerting.resolve("payment_failure")
    status, body = get(api, None)
    assert status == 200 and body["window"] == "7d"
    rules = {rule["rule"]: rule for rule in body["rules"]}
    assert set(rules) == set(alerting.rules)
    payment = rules["payment_failure"]
    assert (payment["fired"], payment["acknowledged"], payment["resolved"]) == (1, 1, 1)
    assert (payment["ack_median_seconds"], payment["resolve_p90_seconds"]) == (90.0, 600.0)
    assert payment["resolved_unacknowledged"] == 0 and payment["pages"] == 0  # nothing delivered (no history)


def test_thirty_days_and_bad_windows(api: Any, clock: Clock) -> None:
    status, body = get(api, "30d")
    assert status == 200 and body["window"] == "30d"
    status, body = get(api, "1y")
    assert status == 400 and body["error"]["code"] == "invalid_parameter"
    status, _ = get(api, "7d", secret="wrong")
    assert status == 401
