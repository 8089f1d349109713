"""The guide's HealthCheckService: checks run concurrently, each bounded by its own timeout.

A check is anything with a `name`, a `critical` flag and `run(timeout) -> CheckOutcome`.
The service starts them all at once on a shared thread pool and waits for each no longer
than its timeout, so a dependency that hangs costs one timeout, not the request. A check
that raises or times out is reported as failed with a masked message.

Overall status: a failed critical check makes the system `unhealthy` (HTTP 503); any other
failure or warning makes it `degraded` (HTTP 200); otherwise `healthy`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from platform_monitoring.core.masking import mask, mask_text


class CheckStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


class SystemStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class CheckOutcome:
    status: CheckStatus
    message: str
    meta: dict[str, Any] | None = None


class HealthCheck(Protocol):
    name: str
    critical: bool

    def run(self, timeout: float) -> CheckOutcome: ...


@dataclass(frozen=True)
class CheckResult:
    name: str
    critical: bool
    status: CheckStatus
    message: str
    duration_ms: float
    meta: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "critical": self.critical,
            "status": self.status.value,
            "message": self.message,
        }
        if self.meta:
            body["meta"] = self.meta
        body["duration"] = round(self.duration_ms, 2)
        return body


@dataclass(frozen=True)
class HealthReport:
    status: SystemStatus
    timestamp: datetime
    checks: list[CheckResult] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def http_status(self) -> int:
        return 503 if self.status is SystemStatus.UNHEALTHY else 200

    def check(self, name: str) -> CheckResult:
        return next(result for result in self.checks if result.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "timestamp": self.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "checks": [result.to_dict() for result in self.checks],
            "duration": round(self.duration_ms, 2),
        }


def overall_status(results: Sequence[CheckResult]) -> SystemStatus:
    if any(r.critical and r.status is CheckStatus.FAILED for r in results):
        return SystemStatus.UNHEALTHY
    if any(r.status is not CheckStatus.OK for r in results):
        return SystemStatus.DEGRADED
    return SystemStatus.HEALTHY


# Threads outlive a hung check (Python cannot kill them), so the pool is shared and sized
# for a few stragglers; every real check also passes its timeout to its client, so a hung
# thread ends by itself shortly after its answer was given up on.
_EXECUTOR = ThreadPoolExecutor(max_workers=16, thread_name_prefix="health-check")


class HealthCheckService:
    def __init__(
        self,
        checks: Sequence[HealthCheck],
        timeout: float,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.checks = list(checks)
        self.timeout = timeout
        self._executor = executor or _EXECUTOR

    def only(self, names: Sequence[str]) -> HealthCheckService:
        """The same service restricted to the checks named (in this service's order), same pool."""
        return HealthCheckService([c for c in self.checks if c.name in names], self.timeout, self._executor)

    def run(self, budget: float | None = None) -> HealthReport:
        """Run every check concurrently; `budget` caps the whole run (the Lambda's remaining time)."""
        timeout = self.timeout if budget is None else max(0.0, min(self.timeout, budget))
        started = time.monotonic()
        futures = [(check, self._executor.submit(_timed_run, check, timeout)) for check in self.checks]
        results = [self._collect(check, future, started + timeout, timeout) for check, future in futures]
        return HealthReport(
            status=overall_status(results),
            timestamp=datetime.now(UTC),
            checks=results,
            duration_ms=(time.monotonic() - started) * 1000,
        )

    @staticmethod
    def _collect(
        check: HealthCheck,
        future: Future[CheckResult],
        deadline: float,
        timeout: float,
    ) -> CheckResult:
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            return CheckResult(
                name=check.name,
                critical=check.critical,
                status=CheckStatus.FAILED,
                message=f"{_label(check)} check timed out after {timeout * 1000:.0f} ms",
                duration_ms=timeout * 1000,
            )


def _timed_run(check: HealthCheck, timeout: float) -> CheckResult:
    started = time.monotonic()
    try:
        outcome = check.run(timeout)
    except Exception as error:  # a check's failure is data, not an exception
        outcome = CheckOutcome(CheckStatus.FAILED, f"{_label(check)} check failed: {describe_error(error)}")
    return CheckResult(
        name=check.name,
        critical=check.critical,
        status=outcome.status,
        message=mask_text(outcome.message),
        duration_ms=(time.monotonic() - started) * 1000,
        meta=mask(outcome.meta) if outcome.meta else None,
    )


def _label(check: HealthCheck) -> str:
    return check.name.replace("_", " ").capitalize()


def describe_error(error: BaseException) -> str:
    """A one-line, masked description of an error for a check message."""
    # Masked before it is cut: a secret cut in half would no longer look like one.
    text = mask_text(" ".join(str(error).split()))[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
