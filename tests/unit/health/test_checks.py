from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from platform_monitoring.core.config import Secret
from platform_monitoring.core.settings import DatabaseSettings, RedisSettings, StripeSettings
from platform_monitoring.health.checks import (
    DatabaseCheck,
    DiskCheck,
    MemoryCheck,
    QueuesCheck,
    RedisCheck,
    StripeCheck,
    default_checks,
    record_report,
    stripe_mode,
)
from platform_monitoring.health.service import CheckResult, CheckStatus, HealthReport, SystemStatus
from platform_monitoring.health.settings import HealthSettings
from platform_monitoring.observability.store import MetricRecorder

from tests.support.fakes import InMemoryMetricBackend

DB = DatabaseSettings("db.internal", 3306, "app", "monitor", Secret("DB_PASSWORD", "env", "pw-9f8e7d"))


class FakeCursor:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.executed: list[str] = []

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str) -> None:
        if self.error:
            raise self.error
        self.executed.append(sql)

    def fetchone(self) -> tuple[int]:
        return (1,)


@dataclass
class FakeConnection:
    error: Exception | None = None
    closed: bool = False
    cursors: list[FakeCursor] = field(default_factory=list)

    def cursor(self) -> FakeCursor:
        self.cursors.append(FakeCursor(self.error))
        return self.cursors[-1]

    def close(self) -> None:
        self.closed = True


def test_database_check_runs_select_1_and_closes() -> None:
    connection = FakeConnection()
    outcome = DatabaseCheck(DB, connect=lambda s, t: connection).run(1)
    assert outcome.status is CheckStatus.OK
    assert connection.cursors[0].executed == ["SELECT 1"]
    assert connection.closed


def test_database_check_failure_names_the_problem() -> None:
    def refuse(settings: DatabaseSettings, timeout: float) -> Any:
        raise ConnectionError(f"Access denied for user 'monitor' using password {settings.password.reveal()}")

    outcome = DatabaseCheck(DB, connect=refuse).run(1)
    assert outcome.status is CheckStatus.FAILED
    assert outcome.message.startswith("Database connection failed: ConnectionError")
    # The check message passes through masking in the service; the raw text mentions it here
    assert "Access denied" in outcome.message


class FakeRedis:
    def __init__(self, error: Exception | None = None) -> None:
        self.error, self.closed = error, False

    def ping(self) -> bool:
        if self.error:
            raise self.error
        return True

    def close(self) -> None:
        self.closed = True


def test_redis_check() -> None:
    settings = RedisSettings(Secret("REDIS_URL", "env", "redis://127.0.0.1:6379/0"))
    client = FakeRedis()
    assert RedisCheck(settings, connect=lambda s, t: client).run(1).status is CheckStatus.OK
    assert client.closed
    down = RedisCheck(settings, connect=lambda s, t: FakeRedis(TimeoutError("Timeout reading from socket")))
    outcome = down.run(1)
    assert outcome.status is CheckStatus.FAILED
    assert "Timeout reading from socket" in outcome.message


@dataclass
class FakeStripe:
    error: Exception | None = None
    calls: int = 0

    @property
    def v1(self) -> FakeStripe:
        return self

    @property
    def balance(self) -> FakeStripe:
        return self

    def retrieve(self) -> dict[str, Any]:
        self.calls += 1
        if self.error:
            raise self.error
        return {"object": "balance"}


def stripe_settings(key: str | None) -> StripeSettings:
    secret = Secret("STRIPE_SECRET_KEY", "env", key) if key else Secret("STRIPE_SECRET_KEY", "unset", "")
    return StripeSettings(secret, Secret("STRIPE_WEBHOOK_SECRET", "unset", ""), None)


def test_stripe_check_makes_an_authenticated_call_and_reports_mode() -> None:
    client = FakeStripe()
    outcome = StripeCheck(stripe_settings("sk_live_abc123"), connect=lambda s, t: client).run(1)
    assert outcome.status is CheckStatus.OK
    assert outcome.meta == {"mode": "live"}
    assert client.calls == 1


def test_stripe_check_without_key_fails_without_calling() -> None:
    client = FakeStripe()
    outcome = StripeCheck(stripe_settings(None), connect=lambda s, t: client).run(1)
    assert outcome.status is CheckStatus.FAILED
    assert "STRIPE_SECRET_KEY" in outcome.message
    assert client.calls == 0


def test_stripe_mode() -> None:
    assert stripe_mode("sk_test_1") == "test"
    assert stripe_mode("rk_live_1") == "live"
    assert stripe_mode(None) == "test"


class FakeSqs:
    def __init__(self, sizes: dict[str, int], broken: str | None = None) -> None:
        self.sizes, self.broken = sizes, broken

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        if QueueUrl == self.broken:
            raise OSError("queue does not exist")
        return {"Attributes": {"ApproximateNumberOfMessages": str(self.sizes[QueueUrl])}}


URLS = {"default": "http://q/default", "webhooks": "http://q/webhooks", "stripe": "http://q/stripe"}


def test_queues_under_threshold_ok_with_sizes_in_meta() -> None:
    sqs = FakeSqs({"http://q/default": 3, "http://q/webhooks": 1000, "http://q/stripe": 0})
    outcome = QueuesCheck(URLS, 1000, client=lambda t: sqs).run(1)
    assert outcome.status is CheckStatus.OK
    assert outcome.meta == {"default": 3, "webhooks": 1000, "stripe": 0}


def test_queue_above_threshold_warns_naming_it() -> None:
    sqs = FakeSqs({"http://q/default": 3, "http://q/webhooks": 1001, "http://q/stripe": 0})
    outcome = QueuesCheck(URLS, 1000, client=lambda t: sqs).run(1)
    assert outcome.status is CheckStatus.WARNING
    assert "webhooks has 1001" in outcome.message


def test_unreadable_queue_fails() -> None:
    sqs = FakeSqs({"http://q/default": 3}, broken="http://q/webhooks")
    outcome = QueuesCheck(URLS, 1000, client=lambda t: sqs).run(1)
    assert outcome.status is CheckStatus.FAILED
    assert "webhooks" in outcome.message


@pytest.mark.parametrize(("used", "status"), [(90, CheckStatus.OK), (91, CheckStatus.WARNING)])
def test_disk_threshold(used: int, status: CheckStatus) -> None:
    outcome = DiskCheck("/tmp", 90, usage=lambda p: (used, 100)).run(1)
    assert outcome.status is status
    assert outcome.meta and outcome.meta["used_percent"] == used


@pytest.mark.parametrize(("used_mb", "status"), [(435, CheckStatus.OK), (436, CheckStatus.WARNING)])
def test_memory_threshold_against_function_memory(used_mb: int, status: CheckStatus) -> None:
    outcome = MemoryCheck(512, 85, used_bytes=lambda: used_mb * 2**20).run(1)
    assert outcome.status is status
    assert outcome.meta and outcome.meta["limit_mb"] == 512


def test_real_memory_reading_is_plausible() -> None:
    outcome = MemoryCheck(None, 85).run(1)
    assert outcome.meta and 1 < outcome.meta["used_mb"] < outcome.meta["limit_mb"]


def test_default_checks_are_the_guides_six_with_critical_flags() -> None:
    settings = HealthSettings.from_env({"STRIPE_SECRET_KEY": "sk_test_1"})
    assert [(c.name, c.critical) for c in default_checks(settings)] == [
        ("database", True),
        ("redis", True),
        ("stripe_api", True),
        ("queues", False),
        ("disk", False),
        ("memory", False),
    ]


def test_health_report_feeds_the_gauges_and_counters() -> None:
    backend = InMemoryMetricBackend()
    recorder = MetricRecorder(lambda: backend)
    report = HealthReport(
        SystemStatus.UNHEALTHY,
        __import__("datetime").datetime.now(),
        [
            CheckResult("database", True, CheckStatus.FAILED, "Database connection failed", 3.0),
            CheckResult("stripe_api", True, CheckStatus.OK, "ok", 120.0, {"mode": "test"}),
            CheckResult(
                "queues", False, CheckStatus.WARNING, "big", 4.0, {"default": 1, "webhooks": 1500, "stripe": 0}
            ),
        ],
    )
    record_report(report, recorder)
    recorder.flush()
    assert backend.hashes["askproai_health_check_status"] == {
        '["database"]': 0.0,
        '["stripe_api"]': 1.0,
        '["queues"]': 0.5,
    }
    assert backend.hashes["askproai_queue_size"] == {'["default"]': 1.0, '["webhooks"]': 1500.0, '["stripe"]': 0.0}
    assert backend.hashes["askproai_database_connection_failures"] == {"[]": 1.0}
    assert backend.hashes["askproai_external_api_calls"] == {'["stripe"]': 1.0}
    assert "askproai_external_api_errors" not in backend.hashes
