"""The health checks against the real servers: MariaDB, Redis, localstripe and moto server."""

from __future__ import annotations

import time

import pytest
from platform_monitoring.core.config import Secret
from platform_monitoring.core.settings import DatabaseSettings, RedisSettings, StripeSettings
from platform_monitoring.health.checks import DatabaseCheck, QueuesCheck, RedisCheck, StripeCheck
from platform_monitoring.health.service import CheckStatus, HealthCheckService, SystemStatus

from localdev.net import free_port
from tests.support.faults import HangingServer, TcpProxy

pytestmark = pytest.mark.integration


def database(port: int, password: str = "", user: str = "root", name: str = "test") -> DatabaseSettings:
    return DatabaseSettings("127.0.0.1", port, name, user, Secret("DB_PASSWORD", "env", password))


def redis_at(url: str) -> RedisSettings:
    return RedisSettings(Secret("REDIS_URL", "env", url))


def run_alone(check: object, timeout: float = 2.0) -> tuple[CheckStatus, str, float]:
    report = HealthCheckService([check], timeout=timeout).run()  # type: ignore[list-item]
    result = report.checks[0]
    return result.status, result.message, result.duration_ms


def test_database_ok_against_mariadb(mysql_port: int) -> None:
    status, message, _ = run_alone(DatabaseCheck(database(mysql_port)))
    assert (status, message) == (CheckStatus.OK, "Database connection is healthy")


def test_database_down_fails_fast() -> None:
    status, message, duration = run_alone(DatabaseCheck(database(free_port())))
    assert status is CheckStatus.FAILED
    assert "Can't connect to MySQL server" in message
    assert duration < 1000


def test_database_wrong_password_does_not_leak_it(mysql_port: int) -> None:
    status, message, _ = run_alone(DatabaseCheck(database(mysql_port, "Sup3r-S3cret-pw", user="nobody")))
    assert status is CheckStatus.FAILED
    assert "Access denied" in message
    assert "Sup3r-S3cret-pw" not in message


def test_database_hanging_costs_one_timeout() -> None:
    with HangingServer() as hanging:
        started = time.monotonic()
        status, message, _ = run_alone(DatabaseCheck(database(hanging.port)), timeout=0.5)
        elapsed = time.monotonic() - started
    assert status is CheckStatus.FAILED
    assert "timed out" in message or "Lost connection" in message or "timed out" in message.lower()
    assert elapsed < 1.5


def test_redis_ok_down_and_hanging(redis_url: str) -> None:
    assert run_alone(RedisCheck(redis_at(redis_url)))[0] is CheckStatus.OK
    status, message, _ = run_alone(RedisCheck(redis_at(f"redis://127.0.0.1:{free_port()}/0")))
    assert status is CheckStatus.FAILED and "Connection refused" in message
    with HangingServer() as hanging:
        started = time.monotonic()
        status, message, _ = run_alone(RedisCheck(redis_at(f"redis://127.0.0.1:{hanging.port}/0")), timeout=0.5)
        assert time.monotonic() - started < 1.5
    assert status is CheckStatus.FAILED


def test_redis_password_in_url_never_reaches_the_message() -> None:
    url = f"redis://:Redis-Pa55word@127.0.0.1:{free_port()}/0"
    status, message, _ = run_alone(RedisCheck(redis_at(url)))
    assert status is CheckStatus.FAILED
    assert "Redis-Pa55word" not in message


def test_redis_stopped_behind_a_proxy_then_back(redis_port: int) -> None:
    with TcpProxy("127.0.0.1", redis_port) as proxy:
        check = RedisCheck(redis_at(f"redis://127.0.0.1:{proxy.port}/0"))
        assert run_alone(check)[0] is CheckStatus.OK
        proxy.set_mode("down")
        assert run_alone(check)[0] is CheckStatus.FAILED
        proxy.set_mode("forward")
        assert run_alone(check)[0] is CheckStatus.OK


def stripe_at(base: str, key: str = "sk_test_integration") -> StripeSettings:
    return StripeSettings(Secret("STRIPE_SECRET_KEY", "env", key), Secret("STRIPE_WEBHOOK_SECRET", "unset", ""), base)


def test_stripe_authenticated_call_against_localstripe(localstripe_url: str) -> None:
    report = HealthCheckService([StripeCheck(stripe_at(localstripe_url))], timeout=3).run()
    result = report.checks[0]
    assert result.status is CheckStatus.OK, result.message
    assert result.meta == {"mode": "test"}


def test_stripe_down_and_hanging(localstripe_url: str) -> None:
    status, _, _ = run_alone(StripeCheck(stripe_at(f"http://127.0.0.1:{free_port()}")))
    assert status is CheckStatus.FAILED
    with HangingServer() as hanging:
        started = time.monotonic()
        status, _, _ = run_alone(StripeCheck(stripe_at(f"http://127.0.0.1:{hanging.port}")), timeout=0.5)
        assert time.monotonic() - started < 1.5
    assert status is CheckStatus.FAILED


def test_queue_depths_from_moto_server(aws_resources: dict[str, dict[str, str]], sqs_client) -> None:  # type: ignore[no-untyped-def]
    urls = {
        "default": aws_resources["DefaultQueue"]["Ref"],
        "webhooks": aws_resources["WebhooksQueue"]["Ref"],
        "stripe": aws_resources["StripeQueue"]["Ref"],
    }
    for url in urls.values():
        sqs_client.purge_queue(QueueUrl=url)
    for index in range(3):
        sqs_client.send_message(QueueUrl=urls["webhooks"], MessageBody=f"event {index}")
    check = QueuesCheck(urls, warning_size=2, client=lambda timeout: sqs_client)
    result = HealthCheckService([check], timeout=3).run().checks[0]
    assert result.status is CheckStatus.WARNING
    assert result.meta == {"default": 0, "webhooks": 3, "stripe": 0}
    assert "webhooks has 3" in result.message


def test_all_real_checks_together_are_healthy(  # type: ignore[no-untyped-def]
    mysql_port: int, redis_url: str, localstripe_url: str, aws_resources: dict[str, dict[str, str]], sqs_client
) -> None:
    checks = [
        DatabaseCheck(database(mysql_port)),
        RedisCheck(redis_at(redis_url)),
        StripeCheck(stripe_at(localstripe_url)),
        QueuesCheck({"webhooks": aws_resources["WebhooksQueue"]["Ref"]}, 1000, client=lambda timeout: sqs_client),
    ]
    report = HealthCheckService(checks, timeout=3).run()
    assert report.status is SystemStatus.HEALTHY, report.to_dict()
