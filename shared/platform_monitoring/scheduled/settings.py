"""ScheduledChecksFunction's settings: the health checks' and alerting's."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.core.config import EnvSource, env_reader
from platform_monitoring.health.settings import HealthSettings


@dataclass(frozen=True)
class ScheduledChecksSettings:
    health: HealthSettings
    alerting: AlertingSettings

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> ScheduledChecksSettings:
        env = env_reader(environ)
        health = HealthSettings.from_env(env)
        return cls(health=health, alerting=AlertingSettings.from_env(env, monitoring=health.monitoring))
