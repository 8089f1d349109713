from __future__ import annotations

import json
import subprocess
import sys

import pytest
from platform_monitoring.observability.invocation import instrument
from platform_monitoring.observability.logging import (
    bind_user,
    channels,
    correlation_id_from,
    request_metadata,
    security_log,
)
from platform_monitoring.observability.metrics import count_business, recorder

from tests.support.functions import ROOT, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.logs import captured_channel


def test_correlation_id_precedence() -> None:
    api = load_event("health.json")
    assert correlation_id_from(api) == "sample-health-0001"
    api["headers"].pop("X-Correlation-ID")
    assert correlation_id_from(api) == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert correlation_id_from({"id": "eventbridge-id-1", "detail-type": "Scheduled Event"}) == "eventbridge-id-1"
    assert correlation_id_from({"Records": [{"messageId": "sqs-1"}]}) == "sqs-1"
    assert len(correlation_id_from({})) == 36  # a fresh UUID


def test_request_metadata_and_user_context_from_authorizer() -> None:
    event = load_event("health.json")
    event["requestContext"]["authorizer"] = {"user_id": "42", "company_id": "7"}
    meta = request_metadata(event)
    assert meta["user_id"] == "42" and meta["company_id"] == "7"
    assert meta["source_ip"] == "203.0.113.10"
    assert request_metadata({"Records": []}) == {}


def test_channel_levels_follow_settings() -> None:
    channels.set_levels({"security": "warning"})
    with captured_channel("security") as output:
        security_log.info("not shown")
        security_log.warning("shown", extra={"password": "hunter2", "ip": "203.0.113.5"})
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["shown"]
    assert lines[0]["password"] == "[MASKED]"
    assert lines[0]["channel"] == "security"
    assert lines[0]["service"] == "askproai-monitoring"


def test_invocation_context_does_not_leak_into_the_next_invocation() -> None:
    channels.set_levels({"security": "info"})

    @instrument
    def handler(event: dict[str, object], context: object) -> None:
        if event.get("user"):
            bind_user("user-1", "company-1")
        security_log.info("handled")

    with captured_channel("security") as output:
        handler({"id": "first", "user": True}, FakeLambdaContext())
        handler({"id": "second"}, FakeLambdaContext())
    first, second = (json.loads(line) for line in output.getvalue().splitlines())
    assert first["user_id"] == "user-1" and first["correlation_id"] == "first" and first["cold_start"] is True
    assert "user_id" not in second and second["correlation_id"] == "second" and second["cold_start"] is False


def test_sentry_is_not_even_imported_without_a_dsn() -> None:
    code = (
        "import sys; sys.path.insert(0, 'functions/health');"
        "import app, json; event = json.load(open('events/health.json'));"
        "event['headers']['X-Health-Check-Secret'] = 'wrong';"
        "assert app.lambda_handler(event, None)['statusCode'] == 401;"
        "print('sentry_sdk' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin", "HEALTH_CHECK_SECRET": "x", "STRIPE_SECRET_KEY": "sk_test_1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_api_requests_are_counted_by_route_method_and_status(metric_store) -> None:  # type: ignore[no-untyped-def]
    @instrument
    def handler(event: dict[str, object], context: object) -> dict[str, object]:
        return {"statusCode": int(str(event["status"])), "body": ""}

    event = load_event("health.json")
    event["resource"] = "/api/alerts/{id}/ack"
    event["httpMethod"] = "POST"
    for status in (200, 200, 503):
        handler({**event, "status": status}, FakeLambdaContext())
    requests = metric_store.hashes["askproai_http_requests"]
    assert requests == {'["/api/alerts/{id}/ack","POST","200"]': 2.0, '["/api/alerts/{id}/ack","POST","503"]': 1.0}
    assert metric_store.hashes["askproai_http_requests_errors"] == {'["/api/alerts/{id}/ack","POST","503"]': 1.0}
    durations = metric_store.hashes["askproai_http_request_duration_ms"]
    assert durations['["/api/alerts/{id}/ack","POST"]|count'] == 3.0


def test_an_exception_is_counted_as_a_500_and_still_flushed(metric_store) -> None:  # type: ignore[no-untyped-def]
    @instrument
    def handler(event: dict[str, object], context: object) -> dict[str, object]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler(load_event("health.json"), FakeLambdaContext())
    assert metric_store.hashes["askproai_http_requests_errors"] == {'["/api/health","GET","500"]': 1.0}


def test_business_events_reach_prometheus_and_cloudwatch(metric_store, capsys) -> None:  # type: ignore[no-untyped-def]

    count_business("revenue_processed_cents", 2500, currency="eur")
    recorder.flush()
    assert metric_store.hashes["askproai_revenue_processed_cents"] == {'["eur"]': 2500.0}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 1
    assert emf[0]["RevenueProcessedCents"] == [2500.0]
    assert emf[0]["currency"] == "eur"
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AskProAI"
