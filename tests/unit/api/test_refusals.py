"""A refused credential is a failed_authentication security event (api/refusals.py, wiring/events.py):
a wrong secret or signature on any route is reported with API Gateway's source address; a refusal
for another reason is not, and a report that cannot be queued never changes the answer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from platform_monitoring.security.events import FAILED_AUTHENTICATION, SecurityEvent
from platform_monitoring.wiring.events import FailedAuthenticationReporter

from tests.support.functions import OFFLINE_ENV, cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.stripe_events import api_gateway_event, sign

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/SecurityEventsQueue"
ENV = {**OFFLINE_ENV, "SECURITY_EVENTS_QUEUE_URL": QUEUE, "REDIS_URL": "redis://127.0.0.1:1/0"}


def call(module: Any, event: dict[str, Any], source_ip: str = "203.0.113.40") -> tuple[int, dict[str, Any]]:
    event["requestContext"]["identity"]["sourceIp"] = source_ip
    event.setdefault("headers", {})["X-Forwarded-For"] = "10.9.9.9"  # what the caller claims; never used
    response = module.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_a_wrong_metrics_secret_is_reported_with_the_source_address(refused_credentials: list[SecurityEvent]) -> None:
    metrics = cold_start("metrics", {**ENV, "METRICS_SECRET": "right"})
    event = load_event("metrics.json")
    event["headers"] = {"X-Metrics-Secret": "wrong"}
    event["multiValueHeaders"] = {"X-Metrics-Secret": ["wrong"]}

    status, _ = call(metrics, event)

    assert status == 401
    [reported] = refused_credentials
    assert (reported.type, reported.ip) == (FAILED_AUTHENTICATION, "203.0.113.40")
    assert reported.details == {"route": "/api/metrics", "method": "GET", "reason": "unauthorized"}
    assert "wrong" not in json.dumps(reported.to_json())  # the guess itself is never stored


def test_a_bad_stripe_signature_is_reported_and_a_closed_endpoint_is_not(
    refused_credentials: list[SecurityEvent],
) -> None:
    webhook = cold_start("stripe_webhook", {**ENV, "STRIPE_WEBHOOK_SECRET": "whsec_right", "WEBHOOKS_QUEUE_URL": QUEUE})
    body = json.dumps({"id": "evt_1", "type": "charge.refunded"})
    status, answer = call(webhook, api_gateway_event(body, sign(body, "whsec_wrong")))
    assert (status, answer["error"]["code"]) == (400, "invalid_signature")
    assert [event.details["reason"] for event in refused_credentials] == ["invalid_signature"]

    closed = cold_start("stripe_webhook", {**ENV, "STRIPE_WEBHOOK_SECRET": None, "WEBHOOKS_QUEUE_URL": QUEUE})
    status, answer = call(closed, api_gateway_event(body, sign(body, "whsec_wrong")))
    assert (status, answer["error"]["code"]) == (503, "not_configured")
    assert len(refused_credentials) == 1  # the operator's missing secret is not the caller's failure


class BrokenQueue:
    def send_events(self, events: Sequence[SecurityEvent]) -> list[str]:
        raise ConnectionError("SQS is not answering")


def test_a_report_that_cannot_be_queued_is_logged_and_the_request_is_still_refused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from platform_monitoring.wiring import events as events_wiring

    monkeypatch.setattr(events_wiring, "_reporter", FailedAuthenticationReporter(BrokenQueue()))
    health = cold_start("health", {**ENV, "HEALTH_CHECK_SECRET": "right"})
    event = load_event("health.json")
    event["headers"] = {"X-Health-Check-Secret": "nope"}
    event["multiValueHeaders"] = {"X-Health-Check-Secret": ["nope"]}

    status, answer = call(health, event)

    assert (status, answer["error"]["code"]) == (401, "unauthorized")
    assert "Failed authentication not queued" in caplog.text


def test_without_an_address_nothing_is_reported() -> None:
    queue: list[SecurityEvent] = []

    class Collect:
        def send_events(self, events: Sequence[SecurityEvent]) -> list[str]:
            queue.extend(events)
            return []

    FailedAuthenticationReporter(Collect())({"requestContext": {"identity": {}}}, "unauthorized")
    assert queue == []
