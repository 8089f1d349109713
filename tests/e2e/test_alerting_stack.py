"""The whole alert lifecycle on the local stack, every function in the real Lambda runtime:
payment failures from many concurrent callers -> one notification on AlertsTopic ->
AlertDispatcherFunction -> one email, one SMS, one Slack message; GET /api/alerts; ack;
the failures stop -> ScheduledChecksFunction (invoked with events/scheduled_checks.json)
resolves it -> the resolved notice by email and Slack."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from platform_monitoring.alerting.notification import SnsPublisher
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.alerting.store import DynamoAlertStore

from localdev.stack import LocalStack
from localdev.template import aws_client
from tests.support.alerting import service
from tests.support.functions import load_event
from tests.support.local_stack import local_stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SECRET = "stack-alerts-secret"
WINDOW = 4  # seconds: payment_failure's window, shortened so the test sees it clear
OVERRIDES = f"payment_failure.window_seconds={WINDOW}"


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("ALERT_")},
        "ALERTS_API_SECRET": SECRET,
        "ALERT_EMAIL_RECIPIENTS": "ops@example.com",
        "ALERT_EMAIL_FROM": "monitoring@example.com",  # the stack verifies it in SES
        "ALERT_SMS_RECIPIENTS": "+15555550100",
        "ALERT_RULE_OVERRIDES": OVERRIDES,
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "DB_DATABASE": "test",
    }
    with local_stack(environ=environ, schedules=False) as running:
        yield running


def alerting_for(stack: LocalStack) -> AlertingService:
    """What a platform Lambda's AlertingService is: the stack's tables and topic, its own clients."""
    region = stack.region
    store = DynamoAlertStore(
        aws_client("dynamodb", stack.moto_url, region), "AlertsTable", "AlertWindowsTable", "AlertSilencesTable"
    )
    publisher = SnsPublisher(aws_client("sns", stack.moto_url, region), stack.resources["AlertsTopic"]["Arn"])
    return service(store, publisher, clock=time.time, overrides=OVERRIDES)  # type: ignore[arg-type]


def api(stack: LocalStack, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {SECRET}", **({"Content-Type": "application/json"} if data else {})}
    request = urllib.request.Request(f"{stack.api_url}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def delivered(stack: LocalStack, channel: str, text: str) -> list[dict[str, Any]]:
    return [
        message
        for message in stack.sent_messages()
        if message["channel"] == channel and text in f"{message.get('subject')} {message.get('body')}"
    ]


def test_fire_throttle_ack_clear_and_resolved_notice(stack: LocalStack) -> None:
    # Given three Lambdas that each see a payment failure at the same moment
    callers = [alerting_for(stack) for _ in range(3)]
    barrier = threading.Barrier(len(callers))
    outcomes: list[str] = []

    def lambda_instance(alerting: AlertingService) -> None:
        barrier.wait()
        outcomes.append(alerting.alert("payment_failure", {"reason": "card_declined", "amount": 4900}).outcome)

    threads = [threading.Thread(target=lambda_instance, args=(caller,)) for caller in callers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count("notified") == 1, outcomes

    # Then exactly one email, one SMS and one Slack message arrive
    wait_until(
        lambda: all(delivered(stack, channel, "Payment failures") for channel in ("email", "sms", "slack")),
        timeout=30,
        message=f"not delivered on every channel: {stack.sent_messages()}",
    )
    # When more failures come within the throttle period, nothing more is sent
    assert callers[0].alert("payment_failure", {"reason": "card_declined"}).outcome == "throttled"
    time.sleep(2.5)  # time for a (wrong) second delivery to show up
    assert len(delivered(stack, "email", "[CRITICAL] Payment failures")) == 1
    assert len(delivered(stack, "sms", "CRITICAL: Payment failures")) == 1
    [slack] = delivered(stack, "slack", "CRITICAL: Payment failures")
    assert "3 payment failures in the last 4 seconds (threshold 3)" in slack["body"]

    # The alert is listed by the API
    status, body = api(stack, "GET", "/api/alerts?status=firing&severity=critical")
    assert status == 200, body
    [listed] = body["alerts"]
    throttled = outcomes.count("throttled") + 1  # the concurrent callers that lost the race, and the repeat
    assert (listed["id"], listed["type"], listed["suppressed"]) == ("payment_failure", "payment_failure", throttled)
    assert listed["first_seen"] and listed["last_notified"]

    # It can be acknowledged
    status, body = api(stack, "POST", "/api/alerts/payment_failure/ack", {"by": "on-call", "note": "looking"})
    assert (status, body["alert"]["status"], body["alert"]["acknowledged_by"]) == (200, "acknowledged", "on-call")

    # When the failures stop for a whole window, the scheduled run resolves it
    time.sleep(WINDOW + 0.5)
    result = stack.invoke("ScheduledChecksFunction", load_event("scheduled_checks.json"), timeout=60)
    assert result.ok, result.error
    assert result.payload["resolved"] == ["payment_failure"], result.payload
    assert result.payload["health"] in ("healthy", "degraded"), result.payload

    # And the resolved notice goes out on the channels that want one (email and Slack, not SMS)
    wait_until(
        lambda: delivered(stack, "email", "[RESOLVED] Payment failures") and delivered(stack, "slack", "RESOLVED"),
        timeout=30,
        message=f"no resolved notice: {stack.sent_messages()}",
    )
    assert len(delivered(stack, "sms", "Payment failures")) == 1
    status, body = api(stack, "GET", "/api/alerts?status=resolved")
    [resolved] = body["alerts"]
    assert resolved["resolution"] == f"no occurrence in the last {WINDOW} seconds"
    assert resolved["acknowledged_by"] == "on-call"


def test_the_api_answers_errors_in_shape_through_the_gateway(stack: LocalStack) -> None:
    status, body = api(stack, "POST", "/api/alerts/no-such-alert/resolve")
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = api(stack, "PATCH", "/api/alerts")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
    request = urllib.request.Request(f"{stack.api_url}/api/alerts")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    assert raised.value.code == 401


def test_the_scheduled_function_records_the_gauges(stack: LocalStack) -> None:
    import redis

    result = stack.invoke("ScheduledChecksFunction", load_event("scheduled_checks.json"), timeout=60)
    assert result.ok, result.error
    assert set(result.payload["checks"]) == {"database", "redis", "stripe_api", "queues", "disk", "memory"}
    assert result.payload["duration_ms"] < 10_000  # well inside its one-minute interval
    store = redis.Redis.from_url("redis://127.0.0.1:6379/12")
    queue_sizes = store.hgetall("{askproai}:m:askproai_queue_size")
    assert {key.decode() for key in queue_sizes} == {'["default"]', '["webhooks"]', '["stripe"]'}
    assert store.hget("{askproai}:m:askproai_health_check_status", '["database"]') == b"1.0"
