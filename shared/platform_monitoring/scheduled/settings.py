"""ScheduledChecksFunction's settings: the health checks' and alerting's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.health.settings import HealthSettings


@dataclass(frozen=True)
class ScheduledChecksSettings:
    health: HealthSettings
    alerting: AlertingSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScheduledChecksSettings:
        health = HealthSettings.from_env(environ)
        return cls(health=health, alerting=AlertingSettings.from_env(environ, monitoring=health.monitoring))
