"""Security monitoring end to end on the local stack: POST /api/events (signed) -> SQS -> the processor
-> DynamoDB windows and blocks (moto), security_logs (MariaDB, behind a switchable proxy), the alerts
topic; IpGuardFunction in front of the API; the blocks API. An attacker is a client socket bound to
127.0.0.x, which the local API Gateway reports as the source IP, like API Gateway would.

The security events queue's visibility timeout is shortened to 2 s after start (the template's 60 s
would make the MySQL-down retries take minutes); everything else is the template's.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from platform_monitoring.observability.store import RedisMetricBackend

from localdev.stack import LocalStack
from localdev.template import aws_client
from tests.support.faults import TcpProxy
from tests.support.local_stack import local_stack
from tests.support.mysql import database_environment, drop_database, security_log_rows
from tests.support.stack_calls import api_call
from tests.support.stripe_events import sign
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

EVENTS_SECRET = "security-stack-events-secret"
ALERTS_SECRET = "security-stack-alerts-secret"
ADMIN_SECRET = "security-stack-admin-secret"  # blocks and unblocks
HEALTH_SECRET = "security-stack-health-secret"
REDIS_URL = "redis://127.0.0.1:6379/9"
DATABASE = "askproai_security_test"


@pytest.fixture(scope="module")
def mysql_proxy(mysql_port: int) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", mysql_port) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def stack(mysql_port: int, mysql_proxy: TcpProxy) -> Iterator[LocalStack]:
    RedisMetricBackend(redis.Redis.from_url(REDIS_URL)).clear()
    drop_database(mysql_port, DATABASE)  # the stack creates and migrates it
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("ALERT_", "SECURITY_"))},
        "EVENTS_SECRET": EVENTS_SECRET,
        "ALERTS_API_SECRET": ALERTS_SECRET,
        "ALERTS_ADMIN_SECRET": ADMIN_SECRET,
        "HEALTH_CHECK_SECRET": HEALTH_SECRET,
        "REDIS_URL": REDIS_URL,
        **database_environment(mysql_proxy.port, DATABASE),
        "HEALTH_CHECK_TIMEOUT_SECONDS": "1",
    }
    only = (
        "EventsFunction",
        "SecurityEventsProcessorFunction",
        "SecurityApiFunction",
        "IpGuardFunction",
        "MetricsFunction",
    )
    with local_stack(environ=environ, schedules=False, only=only) as running:
        sqs = aws_client("sqs", running.moto_url, running.region)
        sqs.set_queue_attributes(
            QueueUrl=running.resources["SecurityEventsQueue"]["QueueUrl"], Attributes={"VisibilityTimeout": "2"}
        )
        yield running


def post_events(
    stack: LocalStack, events: list[dict[str, Any]], source: str = "127.0.0.1"
) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"events": events})
    headers = {"Content-Type": "application/json", "X-Monitoring-Signature": sign(body, EVENTS_SECRET)}
    return api_call(stack, "POST", "/api/events", body=body.encode(), headers=headers, source=source)


def blocks(stack: LocalStack, method: str, ip: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    # Reading takes the read secret; blocking and unblocking the admin secret.
    header = ("X-Alerts-Secret", ALERTS_SECRET) if method == "GET" else ("X-Alerts-Admin-Secret", ADMIN_SECRET)
    headers = {header[0]: header[1], "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    return api_call(
        stack, method, f"/api/security/blocks/{urllib.parse.quote(ip, safe='')}", body=data, headers=headers
    )


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def failed_login(ip: str, user_id: int = 7) -> dict[str, Any]:
    return {
        "type": "failed_login",
        "ip": ip,
        "user_id": user_id,
        "occurred_at": now_iso(),
        "user_agent": "python-requests/2.32",
        "details": {"email": "victim@example.com", "password": "hunter2"},
    }


def counter(name: str) -> float:
    values = RedisMetricBackend(redis.Redis.from_url(REDIS_URL)).snapshot().get(name, {})
    return sum(values.values())


def breach_alerts(stack: LocalStack) -> int:
    return sum(
        1
        for message in stack.sent_messages()
        if message.get("channel") == "sns" and "security_breach_attempt" in json.dumps(message)
    )


def test_five_failed_logins_block_the_ip_for_24_hours_at_the_api(stack: LocalStack, mysql_port: int) -> None:
    attacker = "127.0.0.9"
    # Given: five failed logins and one malformed event, in one signed batch from the platform
    status, answer = post_events(stack, [*(failed_login(attacker) for _ in range(5)), {"type": "failed_login"}])

    # Then: the batch is accepted, the malformed event named, the rest lands
    assert status == 202, answer
    assert answer["accepted"] == 5
    assert answer["errors"] == [{"index": 5, "field": "ip", "message": "ip must be an IPv4 or IPv6 address"}]
    started = time.monotonic()
    block = wait_until(
        lambda: (r := blocks(stack, "GET", attacker))[0] == 200 and r[1]["block"]["blocked"] and r[1]["block"],
        timeout=30,
        message="the IP was not blocked",
    )
    blocked_after = time.monotonic() - started
    assert block["decided_by"] == "rule:failed_logins"
    assert block["duration_seconds"] == 24 * 3600
    # the attacker's next request to the API is refused, whatever X-Forwarded-For it claims
    assert api_call(stack, "GET", "/api/metrics", source=attacker)[0] == 403
    status, refused = api_call(stack, "POST", "/api/events", headers={"X-Forwarded-For": "127.0.0.1"}, source=attacker)
    assert (status, refused["error"]["code"]) == (403, "access_denied")
    # while the platform (127.0.0.1) claiming to be the attacker is not refused
    assert api_call(stack, "GET", "/api/metrics", headers={"X-Forwarded-For": attacker})[0] == 401
    logged = wait_until(lambda: len(r := security_log_rows(mysql_port, DATABASE, attacker)) == 5 and r, timeout=20)
    assert {row["type"] for row in logged} == {"failed_login"}
    assert all("hunter2" not in row["details"] and "[MASKED]" in row["details"] for row in logged)
    wait_until(lambda: breach_alerts(stack) >= 1, timeout=20, message="no security alert")
    time.sleep(1)
    assert breach_alerts(stack) == 1
    print(f"\nblock visible {blocked_after:.2f} s after the 202")

    # And: an operator unblocks it; after the authorizer's cache (30 s) it could pass again
    status, ended = blocks(stack, "DELETE", attacker, {"by": "alice"})
    assert status == 200
    assert (ended["block"]["blocked"], ended["block"]["unblocked_by"]) == (False, "api:alice")


def test_ipv6_and_manual_blocks_through_the_api(stack: LocalStack) -> None:
    status, answer = blocks(stack, "PUT", "2001:DB8::0:42", {"hours": 2, "reason": "scanner", "by": "bob"})
    assert status == 200
    assert (answer["block"]["ip"], answer["block"]["duration_seconds"]) == ("2001:db8::42", 7200)
    assert blocks(stack, "GET", "2001:db8:0:0::42")[1]["block"]["blocked"] is True
    # Stripe's webhook senders are on the allowlist by default: never blocked
    status, refused = blocks(stack, "PUT", "54.187.174.169")
    assert (status, refused["error"]["code"]) == (409, "allowlisted")
    assert blocks(stack, "GET", "198.51.100.77")[0] == 404
    assert api_call(stack, "GET", "/api/security/blocks/1.2.3.4")[0] == 401


def test_mysql_down_during_ingestion_then_back_loses_nothing(
    stack: LocalStack, mysql_port: int, mysql_proxy: TcpProxy
) -> None:
    ip = "198.51.100.23"
    mysql_proxy.set_mode("down")
    try:
        status, answer = post_events(stack, [{**failed_login(ip), "type": "login"} for _ in range(3)])
        assert status == 202
        # the processor fails them and SQS redelivers (visibility 2 s): a few receives while down
        time.sleep(5)
        assert security_log_rows(mysql_port, DATABASE, ip) == []
    finally:
        mysql_proxy.set_mode("forward")
    landed = wait_until(
        lambda: len(r := security_log_rows(mysql_port, DATABASE, ip)) == 3 and r, timeout=30, message="events were lost"
    )
    assert sorted(row["event_id"] for row in landed) == sorted(answer["event_ids"])


def test_concurrent_failed_logins_from_many_lambdas_count_exactly(stack: LocalStack) -> None:
    ip = "198.51.100.99"
    failed_before, blocked_before = counter("askproai_failed_logins"), counter("askproai_blocked_ips")
    # Twelve distinct events, each named: twelve identical unnamed requests in one second would be
    # one request replayed, counted once (docs/security.md, Replays).
    with ThreadPoolExecutor(12) as pool:
        results = list(
            pool.map(lambda n: post_events(stack, [{**failed_login(ip), "id": f"concurrent-{ip}-{n}"}])[0], range(12))
        )
    assert results == [202] * 12
    wait_until(lambda: counter("askproai_failed_logins") - failed_before == 12, timeout=30)
    assert blocks(stack, "GET", ip)[1]["block"]["blocked"] is True
    assert counter("askproai_blocked_ips") - blocked_before == 1


def test_an_event_on_the_eventbridge_bus_lands_like_a_posted_one(stack: LocalStack, mysql_port: int) -> None:
    ip = "198.51.100.61"
    events = aws_client("events", stack.moto_url, stack.region)
    detail = {
        "type": "privilege_escalation",
        "ip": ip,
        "user_id": 9,
        "occurred_at": now_iso(),
        "details": {"to": "admin"},
    }
    response = events.put_events(
        Entries=[
            {
                "EventBusName": stack.resources["SecurityEventBus"]["Name"],
                "Source": "askproai.platform",
                "DetailType": "security_event",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert response["FailedEntryCount"] == 0
    landed = wait_until(
        lambda: security_log_rows(mysql_port, DATABASE, ip), timeout=20, message="the EventBridge event did not land"
    )
    assert [(row["type"], row["source"], row["event_id"]) for row in landed] == [
        ("privilege_escalation", "eventbridge", response["Entries"][0]["EventId"])
    ]


def test_events_dead_lettered_while_mysql_was_down_land_when_redriven(
    stack: LocalStack, mysql_port: int, mysql_proxy: TcpProxy
) -> None:
    ip = "198.51.100.62"
    sqs = aws_client("sqs", stack.moto_url, stack.region)
    dlq = stack.resources["SecurityEventsDeadLetterQueue"]["QueueUrl"]
    mysql_proxy.set_mode("down")
    try:
        status, answer = post_events(stack, [{**failed_login(ip), "type": "registration"}])
        assert status == 202
        # five receives 2 s apart, then the dead-letter queue (the alarm's metric)
        moved = wait_until(
            lambda: sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"),
            timeout=40,
            message="the event never reached the dead-letter queue",
        )
    finally:
        mysql_proxy.set_mode("forward")
    assert security_log_rows(mysql_port, DATABASE, ip) == []
    # redrive (what `aws sqs start-message-move-task` does in AWS)
    for message in moved:
        sqs.send_message(QueueUrl=stack.resources["SecurityEventsQueue"]["QueueUrl"], MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    landed = wait_until(
        lambda: security_log_rows(mysql_port, DATABASE, ip), timeout=20, message="the redriven event did not land"
    )
    assert [row["event_id"] for row in landed] == answer["event_ids"]
