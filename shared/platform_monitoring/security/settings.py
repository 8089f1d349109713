"""Security monitoring's settings: tables, allowlist, blocking rules, the events endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.core.config import ConfigurationError, EnvSource, Secret, env_reader
from platform_monitoring.core.settings import (
    HEALTH_CHECK_TIMEOUT_SECONDS,
    WEBHOOK_MAX_BYTES_LIMIT,
    ApiSecrets,
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
SECURITY_FAILED_AUTH_LIMIT = "SECURITY_FAILED_AUTH_LIMIT"
SECURITY_FAILED_AUTH_WINDOW_SECONDS = "SECURITY_FAILED_AUTH_WINDOW_SECONDS"
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
                failed_authentications=window(
                    defaults.failed_authentications, SECURITY_FAILED_AUTH_LIMIT, SECURITY_FAILED_AUTH_WINDOW_SECONDS
                ),
                block_seconds=block_seconds,
                max_block_seconds=env.integer(
                    SECURITY_MAX_BLOCK_SECONDS, defaults.max_block_seconds, block_seconds, doc="longest block"
                ),
            ),
            aws_timeout=env.number(
                SECURITY_AWS_TIMEOUT_SECONDS,
                1.5,
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
                2.0,  # connect, write, read: 6 s
                0.05,
                25.0,
                doc="timeout of each health check (and of the security processor's MySQL writes)",
            ),
        )


@dataclass(frozen=True)
class SecurityApiSettings:
    """SecurityApiFunction: GET /api/security/blocks/{ip} behind ALERTS_API_SECRET, PUT and DELETE
    (block, unblock) behind ALERTS_ADMIN_SECRET."""

    monitoring: MonitoringSettings
    security: SecuritySettings
    secrets: ApiSecrets  # admin unset: PUT and DELETE refuse (503)

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> SecurityApiSettings:
        env = env_reader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            security=SecuritySettings.from_env(env),
            secrets=ApiSecrets.from_env(env),
        )


WAF_BLOCKED_IPV4_SET = "WAF_BLOCKED_IPV4_SET"
WAF_BLOCKED_IPV6_SET = "WAF_BLOCKED_IPV6_SET"
WAF_ALLOWED_IPV4_SET = "WAF_ALLOWED_IPV4_SET"
WAF_ALLOWED_IPV6_SET = "WAF_ALLOWED_IPV6_SET"
WAF_IP_SET_LIMIT = "WAF_IP_SET_LIMIT"
WAF_AWS_TIMEOUT_SECONDS = "WAF_AWS_TIMEOUT_SECONDS"
IP_GUARD_AWS_TIMEOUT_SECONDS = "IP_GUARD_AWS_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class EdgeSettings:
    """WafIpSetUpdaterFunction: the blocks table and the four WAF IP sets ("name|id|scope" each, the
    template's Ref; all empty when the web ACL is turned off: the updater then has nothing to do)."""

    monitoring: MonitoringSettings
    security: SecuritySettings
    ip_sets: dict[str, str]  # variable -> "name|id|scope"
    limit: int
    aws_timeout: float

    @property
    def enabled(self) -> bool:
        return any(self.ip_sets.values())

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> EdgeSettings:
        env = env_reader(environ)
        names = (WAF_BLOCKED_IPV4_SET, WAF_BLOCKED_IPV6_SET, WAF_ALLOWED_IPV4_SET, WAF_ALLOWED_IPV6_SET)
        ip_sets = {
            name: env.string(name, doc="a WAF IP set the updater keeps (name|id|scope); unset with the others: off")
            or ""
            for name in names
        }
        if any(ip_sets.values()) and not all(ip_sets.values()):
            missing = ", ".join(name for name, value in ip_sets.items() if not value)
            ip_sets = env.fail(f"the WAF IP sets come as four: {missing} not set", dict.fromkeys(names, ""))
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            security=SecuritySettings.from_env(env),
            ip_sets=ip_sets,
            limit=env.integer(
                WAF_IP_SET_LIMIT, 10_000, 1, 10_000, doc="addresses kept per WAF IP set (WAF's limit is 10,000)"
            ),
            aws_timeout=env.number(
                WAF_AWS_TIMEOUT_SECONDS,
                2.0,
                0.1,
                10.0,
                doc="timeout of the WAF IP set updater's WAF and DynamoDB calls",
            ),
        )


@dataclass(frozen=True)
class IpGuardSettings:
    """IpGuardFunction: one GetItem per uncached request, inside the authorizer's 3 s (docs/security.md)."""

    security: SecuritySettings
    aws_timeout: float  # connect and read timeout of its one DynamoDB attempt

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> IpGuardSettings:
        env = env_reader(environ)
        return cls(
            security=SecuritySettings.from_env(env),
            aws_timeout=env.number(
                IP_GUARD_AWS_TIMEOUT_SECONDS,
                1.0,
                0.05,
                1.0,
                doc="connect and read timeout of IpGuard's one DynamoDB attempt (its budget: docs/security.md)",
            ),
        )
