"""Security monitoring's settings: tables, allowlist, blocking rules, the events endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.core.config import ConfigurationError, EnvSource, Secret, env_reader
from platform_monitoring.core.settings import (
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
        """Raise one ConfigurationError naming every table SecurityMonitor cannot do without."""
        tables = ((SECURITY_BLOCKS_TABLE, self.blocks_table), (SECURITY_WINDOWS_TABLE, self.windows_table))
        missing = [f"{name} is required for security monitoring but not set" for name, value in tables if not value]
        if missing:
            raise ConfigurationError.of(missing)

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> SecuritySettings:
        env = env_reader(environ)
        defaults = BlockingRules()

        def window(rule: WindowRule, limit: str, seconds: str) -> WindowRule:
            return WindowRule(
                rule.name,
                env.integer(
                    limit, rule.limit, 1, doc=f"events of the {rule.name} rule that block an address within its window"
                ),
                env.integer(seconds, rule.window_seconds, 1, doc=f"window of the {rule.name} rule"),
                rule.types,
            )

        allowlist = env.string(
            SECURITY_ALLOWLIST, doc="addresses and CIDR ranges never blocked, comma-separated (Stripe's are always)"
        )
        try:
            Allowlist.parse(allowlist)
        except ValueError as error:
            allowlist = env.fail(f"{SECURITY_ALLOWLIST} holds an invalid address or CIDR range: {error}", None)
        block_seconds = env.integer(
            SECURITY_BLOCK_SECONDS,
            defaults.block_seconds,
            60,
            doc="first block's length; repeat offenders get longer ones",
        )
        return cls(
            blocks_table=env.string(SECURITY_BLOCKS_TABLE, doc="DynamoDB table of blocked addresses"),
            windows_table=env.string(
                SECURITY_WINDOWS_TABLE, doc="DynamoDB table of the blocking rules' counting windows"
            ),
            queue_url=env.url(SECURITY_EVENTS_QUEUE_URL, doc="SQS queue `POST /api/events` puts security events on"),
            allowlist=allowlist,
            rules=BlockingRules(
                failed_logins=window(
                    defaults.failed_logins, SECURITY_FAILED_LOGIN_LIMIT, SECURITY_FAILED_LOGIN_WINDOW_SECONDS
                ),
                security_events=window(defaults.security_events, SECURITY_EVENT_LIMIT, SECURITY_EVENT_WINDOW_SECONDS),
                rate_limit=window(defaults.rate_limit, SECURITY_RATE_LIMIT_LIMIT, SECURITY_RATE_LIMIT_WINDOW_SECONDS),
                block_seconds=block_seconds,
                max_block_seconds=env.integer(
                    SECURITY_MAX_BLOCK_SECONDS, defaults.max_block_seconds, block_seconds, doc="longest block"
                ),
            ),
            aws_timeout=env.number(
                SECURITY_AWS_TIMEOUT_SECONDS,
                2.0,
                0.1,
                25.0,
                doc="timeout of security monitoring's DynamoDB and SQS calls",
            ),
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
            secret=env.secret(
                EVENTS_SECRET,
                doc="HMAC secret of `POST /api/events` (comma-separated to roll one); unset closes it",
            ),
            security=SecuritySettings.from_env(env),
            tolerance_seconds=env.integer(
                EVENTS_TOLERANCE_SECONDS, 300, 1, 3600, doc="age of a signed events request accepted"
            ),
            max_bytes=env.integer(
                EVENTS_MAX_BYTES, WEBHOOK_MAX_BYTES_LIMIT, 1, 6 * 1024 * 1024, doc="largest `POST /api/events` body"
            ),
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
            db_timeout=env.number(
                HEALTH_CHECK_TIMEOUT_SECONDS,
                3.0,
                0.05,
                25.0,
                doc="timeout of each health check (and of the security processor's MySQL writes)",
            ),
        )


@dataclass(frozen=True)
class SecurityApiSettings:
    """SecurityApiFunction: GET/PUT/DELETE /api/security/blocks/{ip}, behind ALERTS_API_SECRET."""

    monitoring: MonitoringSettings
    security: SecuritySettings
    secret: Secret

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> SecurityApiSettings:
        env = env_reader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            security=SecuritySettings.from_env(env),
            secret=env.secret(
                ALERTS_API_SECRET,
                doc="secret of the alerts and security-blocks APIs (`X-Alerts-Secret` or Bearer); unset closes them",
            ),
        )
