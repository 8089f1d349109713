"""EventsFunction (signature, per-event validation, 202) and the security events processor (MySQL
failing then back, redeliveries counted once), with in-memory queue, block store and table."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.security.events import SecurityEvent
from platform_monitoring.security.monitor import SecurityMonitor
from platform_monitoring.security.processor import SecurityEventsProcessor
from platform_monitoring.security.rules import Block
from platform_monitoring.security.security_logs import row

from tests.support.alerting import ALERTS_API_ENV, RecordingAlerts
from tests.support.fakes import InMemoryBlockStore, InMemoryMetricBackend
from tests.support.functions import OFFLINE_ENV, cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.stripe_events import api_gateway_event, sign, sqs_batch

SECRET, OLD_SECRET = "events-unit-current", "events-unit-previous"
ENV = {
    "EVENTS_SECRET": f"{SECRET},{OLD_SECRET}",
    "SECURITY_EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/SecurityEventsQueue",
    **OFFLINE_ENV,
}


class ListQueue:
    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []

    def send_events(self, events: Sequence[SecurityEvent]) -> list[str]:
        self.events.extend(events)
        return []


def now_iso(offset: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def failed_login(ip: str = "203.0.113.9", **extra: Any) -> dict[str, Any]:
    return {"type": "failed_login", "ip": ip, "occurred_at": now_iso(), "user_agent": "curl/8", **extra}


@pytest.fixture
def events_function() -> tuple[ModuleType, ListQueue]:
    module = cold_start("events", ENV)
    queue = ListQueue()
    module.ingest.queue = queue
    return module, queue


def post(module: ModuleType, body: str, header: str | None) -> tuple[int, dict[str, Any]]:
    event = api_gateway_event(body, None, headers={"X-Monitoring-Signature": header} if header else {})
    event["resource"] = event["path"] = event["requestContext"]["resourcePath"] = "/api/events"
    response = module.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_a_signed_batch_is_accepted_with_202(events_function: tuple[ModuleType, ListQueue]) -> None:
    module, queue = events_function
    body = json.dumps({"events": [failed_login(), failed_login(user_id=42)]})

    status, answer = post(module, body, sign(body, SECRET))

    assert status == 202
    assert answer["accepted"] == 2
    assert answer["errors"] == []
    assert [event.id for event in queue.events] == answer["event_ids"]


def test_a_replayed_request_without_ids_counts_once(events_function: tuple[ModuleType, ListQueue]) -> None:
    module, queue = events_function
    # Two equal events without an id in one body: two events, each named from the signed request
    body = json.dumps({"events": [failed_login(), failed_login()]})
    # One clock reading: a second boundary between two readings would make the "new" timestamp the old one
    now = int(time.time())
    header = sign(body, SECRET, timestamp=now - 5)
    status, first = post(module, body, header)
    assert status == 202 and len(set(first["event_ids"])) == 2
    # The same request again inside the tolerance window (a replay): the same event IDs
    status, replayed = post(module, body, header)
    assert status == 202 and replayed["event_ids"] == first["event_ids"]
    # so the processor's redelivery check counts them once: windows, metrics, alert, security_logs
    monitor = SecurityMonitor(InMemoryBlockStore())
    assert [monitor.record(event).first_delivery for event in queue.events] == [True, True, False, False]
    # A new signature (another timestamp) is a new request, whose events count
    status, resent = post(module, body, sign(body, SECRET, timestamp=now - 6))
    assert status == 202 and set(resent["event_ids"]).isdisjoint(first["event_ids"])
    # and an event that names itself keeps its id
    named = json.dumps({"events": [failed_login(id="platform-event-1")]})
    assert post(module, named, sign(named, SECRET))[1]["event_ids"] == ["platform-event-1"]


def test_several_v1_signatures_and_the_old_secret_are_accepted(events_function: tuple[ModuleType, ListQueue]) -> None:
    module, _ = events_function
    body = json.dumps({"events": [failed_login()]})
    assert post(module, body, sign(body, "someone-else", OLD_SECRET))[0] == 202


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_signature"),
        ("garbage", "malformed_signature"),
        ("wrong-secret", "invalid_signature"),
        ("expired", "signature_expired"),
    ],
)
def test_bad_signatures_are_refused(
    events_function: tuple[ModuleType, ListQueue], header: str | None, code: str
) -> None:
    module, queue = events_function
    body = json.dumps({"events": [failed_login()]})
    signed = {
        None: None,
        "garbage": "garbage",
        "wrong-secret": sign(body, "wrong"),
        "expired": sign(body, SECRET, timestamp=int(time.time()) - 301),
    }[header]

    status, answer = post(module, body, signed)

    assert (status, answer["error"]["code"]) == (400, code)
    assert "X-Monitoring-Signature" in answer["error"]["message"]
    assert queue.events == []


def test_one_malformed_event_is_named_and_the_rest_of_the_batch_lands(
    events_function: tuple[ModuleType, ListQueue],
) -> None:
    module, queue = events_function
    events = [failed_login(), {**failed_login(), "ip": "not-an-ip"}, failed_login(), {**failed_login(), "type": "x"}]
    body = json.dumps({"events": events})

    status, answer = post(module, body, sign(body, SECRET))

    assert status == 202
    assert answer["accepted"] == 2
    assert [(error["index"], error["field"]) for error in answer["errors"]] == [(1, "ip"), (3, "type")]
    assert len(queue.events) == 2


def test_a_batch_of_only_malformed_events_is_400_with_every_error(
    events_function: tuple[ModuleType, ListQueue],
) -> None:
    module, _ = events_function
    body = json.dumps({"events": [{"type": "login"}]})
    status, answer = post(module, body, sign(body, SECRET))
    assert status == 400
    assert answer["error"]["code"] == "invalid_events"
    assert answer["errors"] == [{"index": 0, "field": "ip", "message": "ip must be an IPv4 or IPv6 address"}]


def test_without_a_secret_the_endpoint_is_closed() -> None:
    module = cold_start("events", {**ENV, "EVENTS_SECRET": None})
    body = json.dumps({"events": [failed_login()]})
    status, answer = post(module, body, sign(body, SECRET))
    assert (status, answer["error"]["code"]) == (503, "not_configured")


# -- the processor ----------------------------------------------------------------------
class FlakyTable:
    """security_logs: refuses while `down`, INSERT IGNORE semantics otherwise."""

    def __init__(self) -> None:
        self.rows: dict[str, SecurityEvent] = {}
        self.down = False

    def insert(self, event: SecurityEvent) -> bool:
        if self.down:
            raise ConnectionRefusedError("MySQL is down")
        if event.id in self.rows:
            return False
        self.rows[event.id] = event
        return True


def message(ip: str = "203.0.113.9", **extra: Any) -> str:
    return json.dumps({"id": f"evt-{time.perf_counter_ns()}", **failed_login(ip), **extra})


def test_mysql_down_fails_the_records_and_the_retry_lands_them_counted_once(
    metric_store: InMemoryMetricBackend,
) -> None:
    table = FlakyTable()
    monitor = SecurityMonitor(InMemoryBlockStore())
    processor = SecurityEventsProcessor(monitor, table)
    bodies = [message() for _ in range(5)]

    table.down = True
    response = processor.handle(sqs_batch(bodies), FakeLambdaContext())
    assert len(response["batchItemFailures"]) == 5
    assert monitor.is_blocked("203.0.113.9")  # blocking does not wait for MySQL

    table.down = False
    response = processor.handle(sqs_batch(bodies), FakeLambdaContext())

    assert response["batchItemFailures"] == []
    assert len(table.rows) == 5
    recorder.flush()
    snapshot = metric_store.snapshot()
    assert sum(snapshot["askproai_failed_logins"].values()) == 5
    assert sum(snapshot["askproai_blocked_ips"].values()) == 1


def test_a_poison_message_fails_alone() -> None:
    table = FlakyTable()
    processor = SecurityEventsProcessor(SecurityMonitor(InMemoryBlockStore()), table)
    response = processor.handle(sqs_batch([message(), "not json", message(type="bogus")]), FakeLambdaContext())
    assert len(response["batchItemFailures"]) == 2
    assert len(table.rows) == 1


# -- IpGuardFunction --------------------------------------------------------------------
class BrokenStore(InMemoryBlockStore):
    def get(self, ip: str) -> None:
        raise ConnectionError("DynamoDB is unreachable")


@pytest.fixture
def ip_guard() -> ModuleType:
    module = cold_start(
        "ip_guard",
        {**ENV, "SECURITY_BLOCKS_TABLE": "SecurityBlocksTable", "SECURITY_WINDOWS_TABLE": "SecurityWindowsTable"},
    )
    module.monitor.store = InMemoryBlockStore()
    return module


def decide(module: ModuleType, source_ip: str) -> dict[str, Any]:
    event = load_event("ip_guard_request.json")
    event["requestContext"]["identity"]["sourceIp"] = source_ip
    answer: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return answer


def test_ip_guard_denies_a_blocked_source_ip_for_the_whole_api(ip_guard: ModuleType) -> None:
    ip_guard.monitor.block("203.0.113.7", reason="test", decided_by="api:test")
    answer = decide(ip_guard, "203.0.113.7")
    statement = answer["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    # one policy for every route: API Gateway caches it per source IP, whatever route comes next
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:local/dev/*"
    assert answer["context"]["ip_guard"] == "blocked"


def test_ip_guard_reads_the_source_ip_never_x_forwarded_for(ip_guard: ModuleType) -> None:
    ip_guard.monitor.block("10.0.0.1", reason="test", decided_by="api:test")  # first in the sample's XFF
    assert decide(ip_guard, "203.0.113.7")["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert decide(ip_guard, "::ffff:10.0.0.1")["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_ip_guard_allows_stripe_and_fails_open(ip_guard: ModuleType) -> None:
    # even a block written before the allowlist existed does not stop Stripe's webhook senders
    now = ip_guard.monitor.now_ms()
    ip_guard.monitor.store.blocks["54.187.174.169"] = Block("54.187.174.169", now + 60_000, now, "old", "api:x")
    assert decide(ip_guard, "54.187.174.169")["context"]["ip_guard"] == "allowed"
    ip_guard.monitor.store = BrokenStore()
    answer = decide(ip_guard, "203.0.113.8")
    assert (answer["policyDocument"]["Statement"][0]["Effect"], answer["context"]["ip_guard"]) == (
        "Allow",
        "store_unavailable",
    )


# -- SecurityApiFunction ----------------------------------------------------------------
def blocks_request(module: ModuleType, method: str, ip: str, headers: dict[str, str] | None = None) -> Any:
    event = api_gateway_event("", None, headers=headers or {})
    event.update(
        resource="/api/security/blocks/{ip}",
        path=f"/api/security/blocks/{ip}",
        httpMethod=method,
        pathParameters={"ip": ip},
        body=None,
    )
    response = module.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"]), response.get("multiValueHeaders") or {}


def test_the_blocks_api_needs_the_secret_and_an_address() -> None:
    tables = {"SECURITY_BLOCKS_TABLE": "SecurityBlocksTable", "SECURITY_WINDOWS_TABLE": "SecurityWindowsTable"}
    secrets = {"ALERTS_API_SECRET": "unit-alerts", "ALERTS_ADMIN_SECRET": "unit-admin"}
    module = cold_start("security_api", {**ENV, **ALERTS_API_ENV, **tables, **secrets})
    module.monitor.store = InMemoryBlockStore()
    module.monitor.alerts = RecordingAlerts()
    auth, admin = {"X-Alerts-Secret": "unit-alerts"}, {"X-Alerts-Admin-Secret": "unit-admin"}
    assert blocks_request(module, "GET", "1.2.3.4")[0] == 401
    assert blocks_request(module, "GET", "1.2.3.4", {"X-Alerts-Secret": "wrong"})[0] == 401
    status, answer, _ = blocks_request(module, "GET", "not-an-ip", auth)
    assert (status, answer["error"]["code"]) == (400, "invalid_ip")
    assert blocks_request(module, "GET", "1.2.3.4", auth)[0] == 404
    status, answer, _ = blocks_request(module, "PUT", "2001%3Adb8%3A%3A1", admin)
    assert (status, answer["block"]["ip"], answer["block"]["decided_by"]) == (200, "2001:db8::1", "api:api")
    status, _, headers = blocks_request(module, "POST", "1.2.3.4", auth)
    assert status == 405
    assert headers["Allow"] == ["GET, PUT, DELETE"]


def test_the_sample_sqs_event_is_stored_masked() -> None:
    table = FlakyTable()
    processor = SecurityEventsProcessor(SecurityMonitor(InMemoryBlockStore()), table)
    response = processor.handle(load_event("security_events_sqs.json"), FakeLambdaContext())
    assert response["batchItemFailures"] == []
    (stored,) = table.rows.values()
    values = row(stored)
    assert values[:5] == ("3f1d2c1e-0b7a-4c55-9e5e-2f4f1f6c0a01", "failed_login", "203.0.113.7", "42", "7")
    assert json.loads(values[6]) == {"email": "someone@example.com", "password": "[MASKED]"}
    assert values[8] == "2026-11-29 10:00:00.000"
