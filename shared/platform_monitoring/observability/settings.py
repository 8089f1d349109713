"""MetricsFunction's settings: the metric store and the scrape secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from platform_monitoring.core.config import EnvReader, Secret
from platform_monitoring.core.settings import MonitoringSettings

METRICS_SECRET = "METRICS_SECRET"


@dataclass(frozen=True)
class MetricsSettings:
    monitoring: MonitoringSettings
    secret: Secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MetricsSettings:
        env = EnvReader(environ)
        return cls(monitoring=MonitoringSettings.from_env(env), secret=env.secret(METRICS_SECRET))
