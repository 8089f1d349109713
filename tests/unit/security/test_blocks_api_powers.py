"""SecurityApiFunction's separate powers: reading a block takes ALERTS_API_SECRET, blocking and
unblocking take ALERTS_ADMIN_SECRET (never the read secret; unset, they refuse), and every manual
block and unblock is notified as security_control_change with the caller's source IP."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from platform_monitoring.alerting.service import AlertingService

from tests.support.alerting import ALERTS_ADMIN_SECRET, ALERTS_API_ENV, ALERTS_API_SECRET, published, service
from tests.support.clock import Clock
from tests.support.fakes import InMemoryBlockStore, RecordingPublisher
from tests.support.functions import cold_start
from tests.support.lambda_context import FakeLambdaContext
from tests.support.stripe_events import api_gateway_event

TABLES = {"SECURITY_BLOCKS_TABLE": "SecurityBlocksTable", "SECURITY_WINDOWS_TABLE": "SecurityWindowsTable"}
OPERATOR_IP = "198.51.100.23"
READ = {"X-Alerts-Secret": ALERTS_API_SECRET}
ADMIN = {"X-Alerts-Admin-Secret": ALERTS_ADMIN_SECRET}


def started(env: dict[str, str | None]) -> tuple[ModuleType, AlertingService]:
    module = cold_start("security_api", {**ALERTS_API_ENV, **TABLES, **env})
    module.monitor.store = InMemoryBlockStore()
    alerting = service(publisher=RecordingPublisher(), clock=Clock())
    module.monitor.alerts = alerting
    return module, alerting


@pytest.fixture(scope="module")
def api() -> tuple[ModuleType, AlertingService]:
    return started({})


def request(module: ModuleType, method: str, ip: str, headers: dict[str, str], body: Any = None) -> Any:
    event = api_gateway_event("", None, headers=headers)
    event.update(
        resource="/api/security/blocks/{ip}",
        path=f"/api/security/blocks/{ip}",
        httpMethod=method,
        pathParameters={"ip": ip},
        body=None if body is None else json.dumps(body),
    )
    event["requestContext"]["identity"]["sourceIp"] = OPERATOR_IP
    response = module.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_the_read_secret_cannot_block_or_unblock(api: tuple[ModuleType, AlertingService], method: str) -> None:
    module, _ = api
    for headers in (READ, {"Authorization": f"Bearer {ALERTS_API_SECRET}"}, {}):
        status, body = request(module, method, "203.0.113.50", headers)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        assert ALERTS_ADMIN_SECRET not in json.dumps(body)
    # and the admin secret does not read: the powers are separate, not nested
    assert request(module, "GET", "203.0.113.50", ADMIN)[0] == 401


def test_an_unset_admin_secret_closes_blocking_and_unblocking() -> None:
    module, _ = started({"ALERTS_ADMIN_SECRET": None})
    for method in ("PUT", "DELETE"):
        status, body = request(module, method, "203.0.113.51", ADMIN)
        assert (status, body["error"]["code"]) == (503, "not_configured")
        assert "ALERTS_ADMIN_SECRET" in body["error"]["message"]
    assert request(module, "GET", "203.0.113.51", READ)[0] == 404  # reading still works


def test_block_and_unblock_are_notified_with_the_callers_address(api: tuple[ModuleType, AlertingService]) -> None:
    module, alerting = api
    before = len(published(alerting.publisher))
    status, body = request(module, "PUT", "203.0.113.52", ADMIN, {"by": "alice", "reason": "token sk_live_abc123xyz"})
    assert status == 200 and body["block"]["blocked"] is True
    status, body = request(module, "DELETE", "203.0.113.52", {"Authorization": f"Bearer {ALERTS_ADMIN_SECRET}"})
    assert status == 200 and body["block"]["blocked"] is False
    notices = published(alerting.publisher)[before:]
    assert [n.alert_type for n in notices] == ["security_control_change"] * 2
    block_notice, unblock_notice = notices
    assert block_notice.context["action"] == "block" and unblock_notice.context["action"] == "unblock"
    assert {n.context["actor_ip"] for n in notices} == {OPERATOR_IP}
    assert unblock_notice.context["target"] == "203.0.113.52"
    assert block_notice.context["by"] == "api:alice"
    assert "sk_live_abc123xyz" not in json.dumps(block_notice.context)  # masked like every alert
    # two changes, two alerts: acknowledging one cannot hide the next
    assert block_notice.alert_id != unblock_notice.alert_id
