"""The guide's six health checks: database, redis, stripe_api, queues, disk, memory.

Each check takes its settings and a factory for its client, so unit tests pass fakes and
integration tests pass the real thing. Every client gets the check's timeout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_monitoring.core import clients
from platform_monitoring.core.settings import DatabaseSettings, RedisSettings, StripeSettings
from platform_monitoring.health.service import CheckOutcome, CheckStatus, HealthCheck, HealthReport, describe_error
from platform_monitoring.health.settings import HealthSettings
from platform_monitoring.observability.invocation import process_memory
from platform_monitoring.observability.performance import mysql_connection
from platform_monitoring.observability.store import MetricRecorder

OK, WARNING, FAILED = CheckStatus.OK, CheckStatus.WARNING, CheckStatus.FAILED


@dataclass
class DatabaseCheck:
    settings: DatabaseSettings
    connect: Callable[[DatabaseSettings, float], Any] = mysql_connection
    name: str = "database"
    critical: bool = True

    def run(self, timeout: float) -> CheckOutcome:
        try:
            connection = self.connect(self.settings, timeout)
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                    cursor.fetchone()
            finally:
                connection.close()
        except Exception as error:
            return CheckOutcome(FAILED, f"Database connection failed: {describe_error(error)}")
        return CheckOutcome(OK, "Database connection is healthy")


@dataclass
class RedisCheck:
    settings: RedisSettings
    connect: Callable[[RedisSettings, float], Any] = clients.redis_client
    name: str = "redis"
    critical: bool = True

    def run(self, timeout: float) -> CheckOutcome:
        try:
            client = self.connect(self.settings, timeout)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as error:
            return CheckOutcome(FAILED, f"Redis connection failed: {describe_error(error)}")
        return CheckOutcome(OK, "Redis connection is healthy")


def stripe_mode(key: str | None) -> str:
    return "live" if key and key.startswith(("sk_live_", "rk_live_")) else "test"


@dataclass
class StripeCheck:
    """An authenticated call (retrieve the balance): proves the key works, not just DNS."""

    settings: StripeSettings
    connect: Callable[[StripeSettings, float], Any] = clients.stripe_client
    name: str = "stripe_api"
    critical: bool = True

    def run(self, timeout: float) -> CheckOutcome:
        if not self.settings.secret_key.configured:
            return CheckOutcome(FAILED, "Stripe API key is not configured (STRIPE_SECRET_KEY)")
        meta = {"mode": stripe_mode(self.settings.secret_key.reveal())}
        try:
            self.connect(self.settings, timeout).v1.balance.retrieve()
        except Exception as error:
            return CheckOutcome(FAILED, f"Stripe API connection failed: {describe_error(error)}", meta)
        return CheckOutcome(OK, "Stripe API connection is healthy", meta)


@dataclass
class QueuesCheck:
    """SQS depth (ApproximateNumberOfMessages) of the default, webhooks and stripe queues."""

    queue_urls: Mapping[str, str | None]
    warning_size: int
    client: Callable[[float], Any] = clients.sqs_client
    name: str = "queues"
    critical: bool = False

    def run(self, timeout: float) -> CheckOutcome:
        sqs = self.client(timeout)
        sizes: dict[str, int] = {}
        for queue, url in self.queue_urls.items():
            if not url:
                continue
            try:
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            except Exception as error:
                return CheckOutcome(FAILED, f"Queue size of {queue} could not be read: {describe_error(error)}", sizes)
            sizes[queue] = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        if not sizes:
            return CheckOutcome(WARNING, "No queues are configured")
        large = {queue: size for queue, size in sizes.items() if size > self.warning_size}
        if large:
            listed = ", ".join(f"{queue} has {size}" for queue, size in large.items())
            return CheckOutcome(WARNING, f"Queue size above {self.warning_size}: {listed}", sizes)
        return CheckOutcome(OK, "Queue sizes are normal", sizes)


def disk_usage(path: str) -> tuple[int, int]:
    usage = shutil.disk_usage(path)
    return usage.used, usage.total


@dataclass
class DiskCheck:
    path: str
    warning_percent: float
    usage: Callable[[str], tuple[int, int]] = disk_usage
    name: str = "disk"
    critical: bool = False

    def run(self, timeout: float) -> CheckOutcome:
        used, total = self.usage(self.path)
        percent = 100.0 * used / total if total else 0.0
        meta = {
            "path": self.path,
            "used_percent": round(percent, 1),
            "free_mb": round((total - used) / 2**20, 1),
        }
        if percent > self.warning_percent:
            return CheckOutcome(WARNING, f"Disk usage of {self.path} is {percent:.1f}%", meta)
        return CheckOutcome(OK, f"Disk usage is {percent:.1f}%", meta)


def process_memory_bytes() -> int:
    """Resident set size of this process (what Lambda's memory limit counts)."""
    return process_memory()[0]


def memory_limit_bytes(configured_mb: int | None) -> int:
    """The function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), else the cgroup's, else the machine's."""
    if configured_mb:
        return configured_mb * 2**20
    cgroup = Path("/sys/fs/cgroup/memory.max")
    if cgroup.exists():
        text = cgroup.read_text().strip()
        if text.isdigit():
            return int(text)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclass
class MemoryCheck:
    limit_mb: int | None
    warning_percent: float
    used_bytes: Callable[[], int] = process_memory_bytes
    name: str = "memory"
    critical: bool = False

    def run(self, timeout: float) -> CheckOutcome:
        used = self.used_bytes()
        limit = memory_limit_bytes(self.limit_mb)
        percent = 100.0 * used / limit
        meta = {
            "used_mb": round(used / 2**20, 1),
            "limit_mb": round(limit / 2**20, 1),
            "used_percent": round(percent, 1),
        }
        if percent > self.warning_percent:
            return CheckOutcome(WARNING, f"Memory usage is {percent:.1f}% of the function's memory", meta)
        return CheckOutcome(OK, f"Memory usage is {percent:.1f}%", meta)


# What readiness asks (GET /api/health/ready): the services the bundle calls. Disk and memory are
# this function's own resources, not dependencies; /api/health still reports them.
DEPENDENCY_CHECKS = ("database", "redis", "stripe_api", "queues")


def default_checks(settings: HealthSettings) -> list[HealthCheck]:
    clients.preload_health_clients()
    return [
        DatabaseCheck(settings.database),
        RedisCheck(settings.redis),
        StripeCheck(settings.stripe),
        QueuesCheck(settings.queues.urls, settings.queue_warning_size),
        DiskCheck(settings.disk_path, settings.disk_warning_percent),
        MemoryCheck(settings.memory_limit_mb, settings.memory_warning_percent),
    ]


STATUS_VALUES = {CheckStatus.OK: 1.0, CheckStatus.WARNING: 0.5, CheckStatus.FAILED: 0.0}


def record_report(report: HealthReport, recorder: MetricRecorder) -> None:
    """The gauges and counters a health run feeds: check status, queue sizes, database
    connection failures and the Stripe API call (an external API call like any other)."""
    for result in report.checks:
        recorder.set("health_check_status", STATUS_VALUES[result.status], check=result.name)
        if result.name == "queues" and result.meta:
            for queue, size in result.meta.items():
                recorder.set("queue_size", size, queue=queue)
        elif result.name == "database" and result.status is CheckStatus.FAILED:
            recorder.inc("database_connection_failures_total")
        elif result.name == "stripe_api" and "not configured" not in result.message:
            recorder.inc("external_api_calls_total", service="stripe")
            recorder.observe("external_api_duration_ms", result.duration_ms, service="stripe")
            if result.status is CheckStatus.FAILED:
                recorder.inc("external_api_errors_total", service="stripe")
