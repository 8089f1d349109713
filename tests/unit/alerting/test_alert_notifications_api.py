"""GET /api/alerts/{id}/notifications on fakes: the alert's delivery history, 404 for no such alert,
the secret required."""

from __future__ import annotations

import json
from typing import Any

import pytest
from platform_monitoring.alerting.delivery.history import DeliveryAttempt

from tests.support.alerting import ALERTS_API_ENV, ALERTS_API_SECRET, Clock, service
from tests.support.fakes import InMemoryDeliveryHistory, RecordingPublisher
from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext

SECRET, ENV = ALERTS_API_SECRET, ALERTS_API_ENV


@pytest.fixture(scope="module")
def api() -> Any:
    return cold_start("alerts_api", ENV)


@pytest.fixture(autouse=True)
def history(api: Any) -> InMemoryDeliveryHistory:
    api.service = service(publisher=RecordingPublisher(), clock=Clock())
    api.history = InMemoryDeliveryHistory()
    return api.history  # type: ignore[no-any-return]


def get(api: Any, alert_id: str, *, secret: str | None = SECRET, method: str = "GET") -> tuple[int, dict[str, Any]]:
    path = f"/api/alerts/{alert_id}/notifications"
    event = load_event("alerts_list.json")
    resource = "/api/alerts/{id}/notifications"
    event.update(httpMethod=method, path=path, resource=resource, queryStringParameters=None, body=None)
    event["requestContext"].update(httpMethod=method, resourcePath=resource)
    headers = {"Host": "127.0.0.1:3000", **({"X-Alerts-Secret": secret} if secret else {})}
    event["headers"] = headers
    event["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
    event["pathParameters"] = {"id": alert_id}
    response = api.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def attempt(target: str, outcome: str, reason: str, number: int, at: int) -> DeliveryAttempt:
    channel = target.partition(":")[0]
    return DeliveryAttempt("payment_failure", "n-1", "firing", channel, target, at, outcome, reason, number)


def test_the_history_lists_every_attempt_oldest_first(api: Any, history: InMemoryDeliveryHistory) -> None:
    history.record(attempt("slack", "sent", "HTTP 200 ok", 2, 1_795_946_460_000))
    history.record(
        attempt("slack", "failed", "SlackError: Slack answered HTTP 400: invalid_payload", 1, 1_795_946_400_000)
    )
    history.record(attempt("sms:+•••••••0100", "sent", "sms-id", 1, 1_795_946_400_001))
    status, body = get(api, "payment_failure")
    assert status == 200 and body["alert_id"] == "payment_failure" and body["count"] == 3
    assert [(n["target"], n["attempt"], n["outcome"]) for n in body["notifications"]] == [
        ("slack", 1, "failed"),
        ("sms:+•••••••0100", 1, "sent"),
        ("slack", 2, "sent"),
    ]
    assert body["notifications"][0] == {
        "notification_id": "n-1",
        "kind": "firing",
        "escalation": 0,
        "channel": "slack",
        "target": "slack",
        "at": "2026-11-29T10:00:00.000Z",
        "outcome": "failed",
        "reason": "SlackError: Slack answered HTTP 400: invalid_payload",
        "attempt": 1,
    }


def test_an_alert_without_attempts_has_an_empty_history(api: Any) -> None:
    api.service.alert("stripe_dispute", {"charge": "ch_1"})
    assert get(api, "stripe_dispute") == (200, {"alert_id": "stripe_dispute", "notifications": [], "count": 0})


def test_no_such_alert_is_404(api: Any) -> None:
    status, body = get(api, "no_such_alert")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_the_secret_is_required(api: Any, history: InMemoryDeliveryHistory) -> None:
    history.record(attempt("slack", "sent", "ok", 1, 1))
    assert get(api, "payment_failure", secret=None)[0] == 401
    assert get(api, "payment_failure", secret="wrong")[0] == 401


def test_only_get_is_allowed(api: Any) -> None:
    assert get(api, "payment_failure", method="DELETE")[0] == 405
