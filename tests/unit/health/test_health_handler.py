from __future__ import annotations

import json
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from platform_monitoring.core.config import ConfigurationError
from platform_monitoring.health.service import CheckOutcome, CheckStatus, HealthCheckService

from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.logs import captured_channel

SECRET = "unit-health-secret"
ENV = {
    "HEALTH_CHECK_SECRET": SECRET,
    "STRIPE_SECRET_KEY": "sk_test_unit",
    "SENTRY_LARAVEL_DSN": None,
    "SENTRY_DSN": None,
}


class StaticCheck:
    def __init__(self, name: str, critical: bool, status: CheckStatus) -> None:
        self.name, self.critical, self.status = name, critical, status

    def run(self, timeout: float) -> CheckOutcome:
        return CheckOutcome(self.status, f"{self.name} is {self.status.value}")


def with_checks(module: ModuleType, *checks: StaticCheck) -> None:
    module.service = HealthCheckService(list(checks), timeout=1)


@pytest.fixture
def health() -> ModuleType:
    module = cold_start("health", ENV)
    with_checks(module, StaticCheck("database", True, CheckStatus.OK), StaticCheck("disk", False, CheckStatus.OK))
    return module


def request(module: ModuleType, change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    event = load_event("health.json")
    event["headers"]["X-Health-Check-Secret"] = SECRET
    if change:
        change(event)
    response: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return response


def body(response: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(response["body"])
    return parsed


def header(response: dict[str, Any], name: str) -> str:
    return str(response["multiValueHeaders"][name][0])


def test_right_secret_gets_the_report(health: ModuleType) -> None:
    response = request(health)
    assert response["statusCode"] == 200
    assert body(response)["status"] == "healthy"
    assert header(response, "Content-Type") == "application/json"


def test_unhealthy_is_503(health: ModuleType) -> None:
    with_checks(health, StaticCheck("redis", True, CheckStatus.FAILED))
    response = request(health)
    assert response["statusCode"] == 503
    assert body(response)["status"] == "unhealthy"


@pytest.mark.parametrize("provided", [None, "", "wrong", SECRET + "x", SECRET.upper()])
def test_missing_or_wrong_secret_is_401(health: ModuleType, provided: str | None) -> None:
    def set_secret(event: dict[str, Any]) -> None:
        event["headers"].pop("X-Health-Check-Secret")
        if provided is not None:
            event["headers"]["X-Health-Check-Secret"] = provided

    response = request(health, set_secret)
    assert response["statusCode"] == 401
    assert body(response)["error"]["code"] == "unauthorized"
    assert "checks" not in body(response)


def test_header_name_is_case_insensitive(health: ModuleType) -> None:
    def lower(event: dict[str, Any]) -> None:
        event["headers"]["x-health-check-secret"] = event["headers"].pop("X-Health-Check-Secret")

    assert request(health, lower)["statusCode"] == 200


def test_unconfigured_secret_fails_closed() -> None:
    module = cold_start("health", {**ENV, "HEALTH_CHECK_SECRET": None})
    with_checks(module, StaticCheck("database", True, CheckStatus.OK))
    for provided in ("", "anything", "None"):
        response = request(module, lambda e, p=provided: e["headers"].update({"X-Health-Check-Secret": p}))
        assert response["statusCode"] == 503
        assert body(response)["error"]["code"] == "not_configured"
        assert "checks" not in body(response)


def test_correlation_id_is_echoed_from_header_else_request_id(health: ModuleType) -> None:
    assert header(request(health), "X-Correlation-ID") == "sample-health-0001"

    def no_header(event: dict[str, Any]) -> None:
        event["headers"].pop("X-Correlation-ID")

    assert header(request(health, no_header), "X-Correlation-ID") == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_injected_correlation_id_is_not_trusted(health: ModuleType) -> None:
    def inject(event: dict[str, Any]) -> None:
        event["headers"]["X-Correlation-ID"] = "abc\r\nSet-Cookie: x=1"

    assert header(request(health, inject), "X-Correlation-ID") == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_unknown_route_is_json_404(health: ModuleType) -> None:
    def elsewhere(event: dict[str, Any]) -> None:
        event["path"] = event["resource"] = "/api/nothing"

    response = request(health, elsewhere)
    assert response["statusCode"] == 404
    assert body(response) == {"error": {"code": "not_found", "message": "No such route"}}


def test_unexpected_error_is_json_500_without_details(health: ModuleType) -> None:
    health.service = HealthCheckService([], timeout=1)
    health.service.run = lambda budget=None: (_ for _ in ()).throw(RuntimeError("password=hunter2"))  # type: ignore[method-assign]
    response = request(health)
    assert response["statusCode"] == 500
    assert "hunter2" not in response["body"]
    assert body(response)["error"]["code"] == "internal_error"


def test_log_lines_are_json_with_channel_and_context(health: ModuleType) -> None:
    with_checks(health, StaticCheck("redis", True, CheckStatus.FAILED))
    with captured_channel("monitoring") as output:
        request(health)
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    line = next(entry for entry in lines if entry["message"] == "Health check: unhealthy")
    assert line["channel"] == "monitoring"
    assert line["level"] == "WARNING"
    assert line["correlation_id"] == "sample-health-0001"
    assert line["source_ip"] == "203.0.113.10"
    assert line["http_method"] == "GET"
    assert line["failing_checks"][0]["name"] == "redis"
    assert SECRET not in json.dumps(lines)


def test_a_bad_setting_stops_cold_start() -> None:
    with pytest.raises(ConfigurationError, match="HEALTH_CHECK_TIMEOUT_SECONDS"):
        cold_start("health", {**ENV, "HEALTH_CHECK_TIMEOUT_SECONDS": "soon"})


# -- the machine formats, liveness and readiness --------------------------------------------------


def at(path: str, accept: str | None = None) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
        event["headers"].pop("Accept", None)
        if accept is not None:
            event["headers"]["Accept"] = accept

    return change


def test_accept_health_json_gets_the_drafts_format_with_its_content_type(health: ModuleType) -> None:
    with_checks(health, StaticCheck("database", True, CheckStatus.OK), StaticCheck("disk", False, CheckStatus.WARNING))
    response = request(health, at("/api/health", "application/health+json"))
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "application/health+json"
    assert header(response, "Vary") == "Accept"
    answer = body(response)
    assert answer["status"] == "warn"
    assert [entry["status"] for entry in answer["checks"]["database:responseTime"]] == ["pass"]
    assert answer["checks"]["disk:utilization"][0]["output"] == "disk is warning"


def test_the_guides_json_stays_the_default(health: ModuleType) -> None:
    for accept in (None, "application/json", "*/*"):
        response = request(health, at("/api/health", accept))
        assert header(response, "Content-Type") == "application/json"
        assert body(response)["status"] == "healthy"
        assert [check["name"] for check in body(response)["checks"]] == ["database", "disk"]


def test_a_failing_critical_check_is_fail_and_503_in_the_drafts_format(health: ModuleType) -> None:
    with_checks(health, StaticCheck("redis", True, CheckStatus.FAILED))
    response = request(health, at("/api/health", "application/health+json"))
    assert response["statusCode"] == 503
    assert body(response)["status"] == "fail"
    assert body(response)["checks"]["redis:responseTime"][0]["output"] == "redis is failed"


def test_readiness_runs_the_dependency_checks_only(health: ModuleType) -> None:
    with_checks(
        health,
        StaticCheck("database", True, CheckStatus.OK),
        StaticCheck("redis", True, CheckStatus.OK),
        StaticCheck("stripe_api", True, CheckStatus.OK),
        StaticCheck("queues", False, CheckStatus.OK),
        StaticCheck("disk", False, CheckStatus.FAILED),
        StaticCheck("memory", False, CheckStatus.FAILED),
    )
    response = request(health, at("/api/health/ready"))
    assert response["statusCode"] == 200
    assert body(response)["status"] == "healthy"
    assert [check["name"] for check in body(response)["checks"]] == ["database", "redis", "stripe_api", "queues"]
    draft = body(request(health, at("/api/health/ready", "application/health+json")))
    assert set(draft["checks"]) == {
        "database:responseTime",
        "redis:responseTime",
        "stripe_api:responseTime",
        "queues:messages",
    }


def test_readiness_is_503_when_a_critical_dependency_fails(health: ModuleType) -> None:
    with_checks(health, StaticCheck("database", True, CheckStatus.FAILED), StaticCheck("disk", False, CheckStatus.OK))
    response = request(health, at("/api/health/ready", "application/health+json"))
    assert response["statusCode"] == 503
    assert body(response)["status"] == "fail"
    assert list(body(response)["checks"]) == ["database:responseTime"]


@pytest.mark.parametrize("path", ["/api/health/live", "/api/health/ready"])
def test_liveness_and_readiness_want_the_health_secret(health: ModuleType, path: str) -> None:
    def no_secret(event: dict[str, Any]) -> None:
        at(path)(event)
        event["headers"].pop("X-Health-Check-Secret")

    assert request(health, no_secret)["statusCode"] == 401
    unconfigured = cold_start("health", {**ENV, "HEALTH_CHECK_SECRET": None})
    assert request(unconfigured, at(path))["statusCode"] == 503


def test_liveness_answers_200_while_every_dependency_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real checks and clients, every dependency at an address nothing listens on, and every
    # connection attempt recorded and refused. /api/health proves the dependencies are down and
    # that their clients do try to connect; liveness must not try at all.
    unreachable = "http://127.0.0.1:9"
    module = cold_start(
        "health",
        {
            **ENV,
            "DB_HOST": "127.0.0.1",
            "DB_PORT": "9",
            "REDIS_URL": "redis://127.0.0.1:9/0",
            "STRIPE_API_BASE": unreachable,
            "AWS_ENDPOINT_URL": unreachable,
            "DEFAULT_QUEUE_URL": f"{unreachable}/123456789012/default",
            "HEALTH_CHECK_TIMEOUT_SECONDS": "1",
        },
    )
    attempts: list[object] = []

    def refuse(sock: object, address: object) -> None:
        attempts.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for accept in ("application/json", "application/health+json"):
        response = request(module, at("/api/health/live", accept))
        assert response["statusCode"] == 200, response["body"]
        assert body(response)["status"] in {"alive", "pass"}
    assert attempts == []

    checked = request(module, at("/api/health", "application/health+json"))
    assert checked["statusCode"] == 503
    assert {body(checked)["checks"][key][0]["status"] for key in ("database:responseTime", "redis:responseTime")} == {
        "fail"
    }
    assert attempts, "the health checks did not try their dependencies"
