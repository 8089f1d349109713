from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest
from platform_monitoring.health.service import CheckOutcome, CheckStatus, HealthCheckService, SystemStatus


@dataclass
class FakeCheck:
    name: str
    critical: bool = True
    outcome: CheckOutcome = field(default_factory=lambda: CheckOutcome(CheckStatus.OK, "fine"))
    delay: float = 0.0
    error: Exception | None = None
    release: threading.Event | None = None
    timeouts_seen: list[float] = field(default_factory=list)

    def run(self, timeout: float) -> CheckOutcome:
        self.timeouts_seen.append(timeout)
        if self.release is not None:
            self.release.wait(5)
        time.sleep(self.delay)
        if self.error:
            raise self.error
        return self.outcome


def test_all_ok_is_healthy_and_200() -> None:
    report = HealthCheckService([FakeCheck("database"), FakeCheck("disk", critical=False)], timeout=1).run()
    assert report.status is SystemStatus.HEALTHY
    assert report.http_status == 200
    assert [c.name for c in report.checks] == ["database", "disk"]


def test_failed_critical_check_is_unhealthy_and_503() -> None:
    failing = FakeCheck("redis", outcome=CheckOutcome(CheckStatus.FAILED, "Redis connection failed"))
    report = HealthCheckService([FakeCheck("database"), failing], timeout=1).run()
    assert report.status is SystemStatus.UNHEALTHY
    assert report.http_status == 503


@pytest.mark.parametrize("status", [CheckStatus.WARNING, CheckStatus.FAILED])
def test_non_critical_problem_is_degraded_with_200(status: CheckStatus) -> None:
    queues = FakeCheck("queues", critical=False, outcome=CheckOutcome(status, "Queue size above 1000"))
    report = HealthCheckService([FakeCheck("database"), queues], timeout=1).run()
    assert report.status is SystemStatus.DEGRADED
    assert report.http_status == 200


def test_checks_run_concurrently() -> None:
    # Given three checks that can only finish if all three are running at the same time
    barrier = threading.Barrier(3, timeout=2)

    @dataclass
    class BarrierCheck:
        name: str
        critical: bool = True

        def run(self, timeout: float) -> CheckOutcome:
            barrier.wait()
            return CheckOutcome(CheckStatus.OK, "met the others")

    # When they run
    report = HealthCheckService([BarrierCheck("a"), BarrierCheck("b"), BarrierCheck("c")], timeout=3).run()

    # Then none was broken out of the barrier by running alone
    assert report.status is SystemStatus.HEALTHY, report.to_dict()


def test_a_hanging_check_costs_one_timeout_and_is_reported() -> None:
    hang = threading.Event()
    hanging = FakeCheck("stripe_api", release=hang)
    try:
        report = HealthCheckService([FakeCheck("database"), hanging], timeout=0.2).run()
    finally:
        hang.set()
    result = report.check("stripe_api")
    assert result.status is CheckStatus.FAILED
    assert "timed out after 200 ms" in result.message
    assert report.check("database").status is CheckStatus.OK
    assert report.status is SystemStatus.UNHEALTHY
    assert report.duration_ms < 2000  # bounded by the timeout, not by the hang (5 s)


def test_budget_caps_every_check_timeout() -> None:
    check = FakeCheck("database")
    HealthCheckService([check], timeout=3).run(budget=0.4)
    assert check.timeouts_seen == [0.4]


def test_exception_in_check_becomes_failed_with_masked_message() -> None:
    boom = FakeCheck("database", error=RuntimeError("cannot log in with password=hunter2 to mysql://u:pw@db"))
    result = HealthCheckService([boom], timeout=1).run().check("database")
    assert result.status is CheckStatus.FAILED
    assert "RuntimeError" in result.message
    assert "hunter2" not in result.message and ":pw@" not in result.message


def test_report_has_the_guides_shape() -> None:
    stripe = FakeCheck("stripe_api", outcome=CheckOutcome(CheckStatus.OK, "healthy", {"mode": "test"}))
    body = HealthCheckService([stripe], timeout=1).run().to_dict()
    assert set(body) == {"status", "timestamp", "checks", "duration"}
    assert body["timestamp"].endswith("Z")
    check = body["checks"][0]
    assert check == {
        "name": "stripe_api",
        "critical": True,
        "status": "ok",
        "message": "healthy",
        "meta": {"mode": "test"},
        "duration": check["duration"],
    }
    assert isinstance(check["duration"], float)
