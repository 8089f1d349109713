"""HealthFunction's settings: the secret, the checks' timeout and warning thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.core.config import EnvSource, Secret, env_reader
from platform_monitoring.core.settings import (
    HEALTH_CHECK_TIMEOUT_SECONDS,
    DatabaseSettings,
    MonitoringSettings,
    QueueSettings,
    RedisSettings,
    StripeSettings,
)

HEALTH_CHECK_SECRET = "HEALTH_CHECK_SECRET"
HEALTH_QUEUE_WARNING_SIZE = "HEALTH_QUEUE_WARNING_SIZE"
HEALTH_DISK_WARNING_PERCENT = "HEALTH_DISK_WARNING_PERCENT"
HEALTH_DISK_PATH = "HEALTH_DISK_PATH"
HEALTH_MEMORY_WARNING_PERCENT = "HEALTH_MEMORY_WARNING_PERCENT"
LAMBDA_MEMORY_SIZE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


@dataclass(frozen=True)
class HealthSettings:
    monitoring: MonitoringSettings
    secret: Secret
    database: DatabaseSettings
    stripe: StripeSettings
    queues: QueueSettings
    check_timeout: float
    queue_warning_size: int
    disk_path: str
    disk_warning_percent: float
    memory_warning_percent: float
    memory_limit_mb: int | None

    @property
    def redis(self) -> RedisSettings:
        return self.monitoring.redis

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> HealthSettings:
        env = env_reader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            secret=env.secret(
                HEALTH_CHECK_SECRET, doc="secret of `GET /api/health` (`X-Health-Check-Secret`); unset closes it"
            ),
            database=DatabaseSettings.from_env(env),
            stripe=StripeSettings.from_env(env),
            queues=QueueSettings.from_env(env),
            check_timeout=env.number(
                HEALTH_CHECK_TIMEOUT_SECONDS,
                3.0,
                0.05,
                25.0,
                doc="timeout of each health check (and of the security processor's MySQL writes)",
            ),
            queue_warning_size=env.integer(
                HEALTH_QUEUE_WARNING_SIZE, 1000, 0, doc="a queue this deep makes the health check warn"
            ),
            disk_path=env.string(HEALTH_DISK_PATH, "/tmp", doc="disk the health check measures") or "/tmp",  # noqa: S108 - Lambda's only writable disk
            disk_warning_percent=env.number(
                HEALTH_DISK_WARNING_PERCENT, 90.0, 0.0, 100.0, doc="disk use that makes the health check warn"
            ),
            memory_warning_percent=env.number(
                HEALTH_MEMORY_WARNING_PERCENT, 85.0, 0.0, 100.0, doc="memory use that makes the health check warn"
            ),
            memory_limit_mb=env.integer(
                LAMBDA_MEMORY_SIZE, 0, 0, doc="the function's memory (set by Lambda): the memory check's limit"
            )
            or None,
        )
