"""ScheduledChecksFunction's settings: the health checks' and alerting's, and the Watchdog heartbeat's URL."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.core.config import EnvSource, env_reader
from platform_monitoring.health.settings import HealthSettings

WATCHDOG_PING_URL = "WATCHDOG_PING_URL"
WATCHDOG_TIMEOUT_SECONDS = "WATCHDOG_TIMEOUT_SECONDS"
_LOOPBACK_HTTP = ("http://127.0.0.1:", "http://localhost:")  # the local stack's and tests' recording servers


@dataclass(frozen=True)
class ScheduledChecksSettings:
    health: HealthSettings
    alerting: AlertingSettings
    watchdog_url: str | None = None  # None: no heartbeat
    watchdog_timeout: float = 3.0

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> ScheduledChecksSettings:
        env = env_reader(environ)
        health = HealthSettings.from_env(env)
        url = env.url(WATCHDOG_PING_URL)
        if url is not None and not url.startswith(("https://", *_LOOPBACK_HTTP)):
            # The ping URL is a credential of sorts (anyone holding it can fake heartbeats): never in clear.
            url = env.fail(f"{WATCHDOG_PING_URL} must be an https:// URL, got {url.partition('://')[0]}://...", None)
        return cls(
            health=health,
            alerting=AlertingSettings.from_env(env, monitoring=health.monitoring),
            watchdog_url=url,
            watchdog_timeout=env.number(WATCHDOG_TIMEOUT_SECONDS, 3.0, 0.5, 10.0),
        )
