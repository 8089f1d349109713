"""GET /api/health over real HTTP on the local stack, with Redis and MariaDB behind proxies
that a test can stop or hang: the endpoint must tell the truth about them."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from localdev.stack import LocalStack
from tests.support.faults import TcpProxy
from tests.support.local_stack import local_stack
from tests.support.mysql import database_environment

pytestmark = pytest.mark.integration

SECRET = "stack-health-secret"
CHECK_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def proxies(mysql_port: int, redis_port: int) -> Iterator[dict[str, TcpProxy]]:
    with TcpProxy("127.0.0.1", mysql_port) as mysql, TcpProxy("127.0.0.1", redis_port) as redis:
        yield {"mysql": mysql, "redis": redis}


@pytest.fixture(scope="module")
def stack(proxies: dict[str, TcpProxy]) -> Iterator[LocalStack]:
    environ = {
        **os.environ,
        "HEALTH_CHECK_SECRET": SECRET,
        **database_environment(proxies["mysql"].port),
        "REDIS_URL": f"redis://127.0.0.1:{proxies['redis'].port}/4",
        "HEALTH_CHECK_TIMEOUT_SECONDS": str(CHECK_TIMEOUT),
    }
    with local_stack(environ=environ, schedules=False) as running:
        yield running


@pytest.fixture(autouse=True)
def dependencies_up(proxies: dict[str, TcpProxy]) -> Iterator[None]:
    yield
    for proxy in proxies.values():
        proxy.set_mode("forward")


def get(
    stack: LocalStack, headers: dict[str, str], path: str = "/api/health"
) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(f"{stack.api_url}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def checks_by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in body["checks"]}


def test_healthy_with_every_check_and_the_guides_shape(stack: LocalStack) -> None:
    status, headers, body = get(stack, {"X-Health-Check-Secret": SECRET, "X-Correlation-ID": "corr-123"})
    assert status == 200, body
    assert body["status"] == "healthy"
    checks = checks_by_name(body)
    assert list(checks) == ["database", "redis", "stripe_api", "queues", "disk", "memory"]
    assert all(check["status"] == "ok" for check in checks.values()), body
    assert checks["stripe_api"]["meta"] == {"mode": "test"}
    assert set(checks["queues"]["meta"]) == {"default", "webhooks", "stripe"}
    assert checks["memory"]["meta"]["limit_mb"] == 512  # the template's MemorySize
    assert headers["X-Correlation-ID"] == "corr-123"


def test_without_the_secret_401(stack: LocalStack) -> None:
    status, _, body = get(stack, {})
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


def test_redis_stopped_makes_it_unhealthy_then_recovers(stack: LocalStack, proxies: dict[str, TcpProxy]) -> None:
    proxies["redis"].set_mode("down")
    status, _, body = get(stack, {"X-Health-Check-Secret": SECRET})
    assert status == 503
    assert body["status"] == "unhealthy"
    redis = checks_by_name(body)["redis"]
    assert redis["status"] == "failed" and "Connection refused" in redis["message"]
    assert checks_by_name(body)["database"]["status"] == "ok"

    proxies["redis"].set_mode("forward")
    status, _, body = get(stack, {"X-Health-Check-Secret": SECRET})
    assert (status, body["status"]) == (200, "healthy")


def test_with_mysql_and_redis_stopped_liveness_answers_and_readiness_fails(
    stack: LocalStack, proxies: dict[str, TcpProxy]
) -> None:
    proxies["mysql"].set_mode("down")
    proxies["redis"].set_mode("down")
    draft = {"X-Health-Check-Secret": SECRET, "Accept": "application/health+json"}
    status, headers, body = get(stack, draft, "/api/health/live")
    assert (status, body["status"]) == (200, "pass")
    assert headers["Content-Type"] == "application/health+json"
    status, _, body = get(stack, {"X-Health-Check-Secret": SECRET}, "/api/health/live")
    assert (status, body["status"]) == (200, "alive")

    status, headers, body = get(stack, draft, "/api/health/ready")
    assert (status, body["status"]) == (503, "fail")
    assert headers["Content-Type"] == "application/health+json"
    assert body["checks"]["database:responseTime"][0]["status"] == "fail"
    assert "Connection refused" in body["checks"]["redis:responseTime"][0]["output"]
    assert body["checks"]["stripe_api:responseTime"][0]["status"] == "pass"
    assert "disk:utilization" not in body["checks"]


def test_mysql_stopped_makes_it_unhealthy(stack: LocalStack, proxies: dict[str, TcpProxy]) -> None:
    proxies["mysql"].set_mode("down")
    status, _, body = get(stack, {"X-Health-Check-Secret": SECRET})
    assert status == 503
    database = checks_by_name(body)["database"]
    assert database["status"] == "failed" and "Can't connect to MySQL server" in database["message"]


def test_mysql_hanging_costs_one_timeout(stack: LocalStack, proxies: dict[str, TcpProxy]) -> None:
    proxies["mysql"].set_mode("hang")
    started = time.monotonic()
    status, _, body = get(stack, {"X-Health-Check-Secret": SECRET})
    elapsed = time.monotonic() - started
    assert status == 503
    database = checks_by_name(body)["database"]
    assert database["status"] == "failed"
    assert database["duration"] == pytest.approx(CHECK_TIMEOUT * 1000, rel=0.5)
    assert checks_by_name(body)["redis"]["status"] == "ok"
    # one timeout, plus HTTP and process overhead; far from the 3 x timeout of a serial run
    assert elapsed < CHECK_TIMEOUT * 3


def test_unknown_route_is_a_json_404_from_the_gateway(stack: LocalStack) -> None:
    request = urllib.request.Request(f"{stack.api_url}/api/nothing-here")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 404
    assert json.loads(raised.value.read()) == {"error": {"code": "not_found", "message": "No such route"}}
