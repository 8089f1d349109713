"""Security monitoring's settings: tables, allowlist, blocking rules, the events endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.core.config import ConfigurationError, EnvSource, Secret, env_reader
from platform_monitoring.core.settings import (
    ALERTS_ADMIN_SECRET,
    ALERTS_API_SECRET,
    HEALTH_CHECK_TIMEOUT_SECONDS,
    WEBHOOK_MAX_BYTES_LIMIT,
    DatabaseSettings,
    MonitoringSettings,
)
from platform_monitoring.security.addresses import Allowlist
from platform_monitoring.security.rules import BlockingRules, WindowRule

EVENTS_SECRET = "EVENTS_SECRET"
SECURITY_BLOCKS_TABLE = "SECURITY_BLOCKS_TABLE"
SECURITY_WINDOWS_TABLE = "SECURITY_WINDOWS_TABLE"
SECURITY_EVENTS_QUEUE_URL = "SECURITY_EVENTS_QUEUE_URL"
SECURITY_ALLOWLIST = "SECURITY_ALLOWLIST"
SECURITY_FAILED_LOGIN_LIMIT = "SECURITY_FAILED_LOGIN_LIMIT"
SECURITY_FAILED_LOGIN_WINDOW_SECONDS = "SECURITY_FAILED_LOGIN_WINDOW_SECONDS"
SECURITY_EVENT_LIMIT = "SECURITY_EVENT_LIMIT"
SECURITY_EVENT_WINDOW_SECONDS = "SECURITY_EVENT_WINDOW_SECONDS"
SECURITY_RATE_LIMIT_LIMIT = "SECURITY_RATE_LIMIT_LIMIT"
SECURITY_RATE_LIMIT_WINDOW_SECONDS = "SECURITY_RATE_LIMIT_WINDOW_SECONDS"
SECURITY_BLOCK_SECONDS = "SECURITY_BLOCK_SECONDS"
SECURITY_MAX_BLOCK_SECONDS = "SECURITY_MAX_BLOCK_SECONDS"
SECURITY_AWS_TIMEOUT_SECONDS = "SECURITY_AWS_TIMEOUT_SECONDS"
EVENTS_TOLERANCE_SECONDS = "EVENTS_TOLERANCE_SECONDS"
EVENTS_MAX_BYTES = "EVENTS_MAX_BYTES"


# --- security monitoring --------------------------------------------------------------
@dataclass(frozen=True)
class SecuritySettings:
    """SecurityMonitor: its tables, the allowlist and the blocking rules (docs/security.md)."""

    blocks_table: str | None
    windows_table: str | None
    queue_url: str | None
    allowlist: str | None  # parsed (and validated) by platform_monitoring.security.Allowlist
    rules: BlockingRules
    aws_timeout: float

    def require(self) -> None:
        for name, value in ((SECURITY_BLOCKS_TABLE, self.blocks_table), (SECURITY_WINDOWS_TABLE, self.windows_table)):
            if not value:
                raise ConfigurationError(f"{name} is required for security monitoring but not set")

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> SecuritySettings:
        env = env_reader(environ)
        defaults = BlockingRules()

        def window(rule: WindowRule, limit: str, seconds: str) -> WindowRule:
            return WindowRule(
                rule.name, env.integer(limit, rule.limit, 1), env.integer(seconds, rule.window_seconds, 1), rule.types
            )

        allowlist = env.string(SECURITY_ALLOWLIST)
        try:
            Allowlist.parse(allowlist)
        except ValueError as error:
            allowlist = env.fail(f"{SECURITY_ALLOWLIST} holds an invalid address or CIDR range: {error}", None)
        block_seconds = env.integer(SECURITY_BLOCK_SECONDS, defaults.block_seconds, 60)
        return cls(
            blocks_table=env.string(SECURITY_BLOCKS_TABLE),
            windows_table=env.string(SECURITY_WINDOWS_TABLE),
            queue_url=env.url(SECURITY_EVENTS_QUEUE_URL),
            allowlist=allowlist,
            rules=BlockingRules(
                failed_logins=window(
                    defaults.failed_logins, SECURITY_FAILED_LOGIN_LIMIT, SECURITY_FAILED_LOGIN_WINDOW_SECONDS
                ),
                security_events=window(defaults.security_events, SECURITY_EVENT_LIMIT, SECURITY_EVENT_WINDOW_SECONDS),
                rate_limit=window(defaults.rate_limit, SECURITY_RATE_LIMIT_LIMIT, SECURITY_RATE_LIMIT_WINDOW_SECONDS),
                block_seconds=block_seconds,
                max_block_seconds=env.integer(SECURITY_MAX_BLOCK_SECONDS, defaults.max_block_seconds, block_seconds),
            ),
            aws_timeout=env.number(SECURITY_AWS_TIMEOUT_SECONDS, 2.0, 0.1, 25.0),
        )


@dataclass(frozen=True)
class EventsSettings:
    """EventsFunction: verify the X-Monitoring-Signature, validate, queue."""

    monitoring: MonitoringSettings
    secret: Secret  # EVENTS_SECRET, comma-separated while one is rolled
    security: SecuritySettings
    tolerance_seconds: int
    max_bytes: int

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> EventsSettings:
        env = env_reader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            secret=env.secret(EVENTS_SECRET),
            security=SecuritySettings.from_env(env),
            tolerance_seconds=env.integer(EVENTS_TOLERANCE_SECONDS, 300, 1, 3600),
            max_bytes=env.integer(EVENTS_MAX_BYTES, WEBHOOK_MAX_BYTES_LIMIT, 1, 6 * 1024 * 1024),
        )


@dataclass(frozen=True)
class SecurityProcessorSettings:
    """SecurityEventsProcessorFunction: windows and blocks, security_logs in MySQL (alerting's settings
    are read beside these by the function)."""

    monitoring: MonitoringSettings
    security: SecuritySettings
    database: DatabaseSettings
    db_timeout: float

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> SecurityProcessorSettings:
        env = env_reader(environ)
        monitoring = MonitoringSettings.from_env(env)
        return cls(
            monitoring=monitoring,
            security=SecuritySettings.from_env(env),
            database=DatabaseSettings.from_env(env),
            db_timeout=env.number(HEALTH_CHECK_TIMEOUT_SECONDS, 3.0, 0.05, 25.0),
        )


@dataclass(frozen=True)
class SecurityApiSettings:
    """SecurityApiFunction: GET /api/security/blocks/{ip} behind ALERTS_API_SECRET, PUT and DELETE
    (block, unblock) behind ALERTS_ADMIN_SECRET."""

    monitoring: MonitoringSettings
    security: SecuritySettings
    secret: Secret
    admin_secret: Secret  # unset: PUT and DELETE refuse (503)

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> SecurityApiSettings:
        env = env_reader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            security=SecuritySettings.from_env(env),
            secret=env.secret(ALERTS_API_SECRET),
            admin_secret=env.secret(ALERTS_ADMIN_SECRET),
        )
