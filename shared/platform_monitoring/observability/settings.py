"""MetricsFunction's settings: the metric store and the scrape secret."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.core.config import EnvSource, Secret, env_reader
from platform_monitoring.core.settings import MonitoringSettings

METRICS_SECRET = "METRICS_SECRET"


@dataclass(frozen=True)
class MetricsSettings:
    monitoring: MonitoringSettings
    secret: Secret

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> MetricsSettings:
        env = env_reader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            secret=env.secret(
                METRICS_SECRET, doc="secret of `GET /api/metrics` (`X-Metrics-Secret` or Bearer); unset closes it"
            ),
        )
