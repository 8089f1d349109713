"""Typed settings, read and validated once at cold start.

Every environment variable name lives here. Precedence: an explicit argument, then the
environment, then the default. A bad value raises ConfigurationError naming the variable
(and never echoing a secret), which stops the function's cold start.

Why dataclasses and not pydantic: the layer stays small and a cold start does not pay
pydantic's import; the validation needed is a handful of typed parsers.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from platform_monitoring.security import BlockingRules

# --- variable names -------------------------------------------------------------------
MONITORING_ENABLED = "MONITORING_ENABLED"
STAGE = "STAGE"
SENTRY_DSN_VARIABLES = ("SENTRY_LARAVEL_DSN", "SENTRY_DSN")
SENTRY_ENVIRONMENT = "SENTRY_ENVIRONMENT"
SENTRY_TRACES_SAMPLE_RATE = "SENTRY_TRACES_SAMPLE_RATE"
SENTRY_PROFILES_SAMPLE_RATE = "SENTRY_PROFILES_SAMPLE_RATE"
ALERT_EMAIL_RECIPIENTS = "ALERT_EMAIL_RECIPIENTS"
ALERT_EMAIL_FROM = "ALERT_EMAIL_FROM"
ALERT_SLACK_WEBHOOK = "ALERT_SLACK_WEBHOOK"
ALERT_SMS_RECIPIENTS = "ALERT_SMS_RECIPIENTS"
HEALTH_CHECK_SECRET = "HEALTH_CHECK_SECRET"
METRICS_SECRET = "METRICS_SECRET"
EVENTS_SECRET = "EVENTS_SECRET"
ALERTS_API_SECRET = "ALERTS_API_SECRET"
DB_HOST = "DB_HOST"
DB_PORT = "DB_PORT"
DB_DATABASE = "DB_DATABASE"
DB_USERNAME = "DB_USERNAME"
DB_PASSWORD = "DB_PASSWORD"
REDIS_URL = "REDIS_URL"
STRIPE_SECRET_KEY = "STRIPE_SECRET_KEY"
STRIPE_WEBHOOK_SECRET = "STRIPE_WEBHOOK_SECRET"
STRIPE_API_BASE = "STRIPE_API_BASE"
DEFAULT_QUEUE_URL = "DEFAULT_QUEUE_URL"
WEBHOOKS_QUEUE_URL = "WEBHOOKS_QUEUE_URL"
STRIPE_QUEUE_URL = "STRIPE_QUEUE_URL"
HEALTH_CHECK_TIMEOUT_SECONDS = "HEALTH_CHECK_TIMEOUT_SECONDS"
HEALTH_QUEUE_WARNING_SIZE = "HEALTH_QUEUE_WARNING_SIZE"
HEALTH_DISK_WARNING_PERCENT = "HEALTH_DISK_WARNING_PERCENT"
HEALTH_DISK_PATH = "HEALTH_DISK_PATH"
HEALTH_MEMORY_WARNING_PERCENT = "HEALTH_MEMORY_WARNING_PERCENT"
LAMBDA_MEMORY_SIZE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
SECRETS_MAX_AGE_SECONDS = "SECRETS_MAX_AGE_SECONDS"
METRICS_SERIES_CAP = "METRICS_SERIES_CAP"
METRICS_STORE_TIMEOUT_SECONDS = "METRICS_STORE_TIMEOUT_SECONDS"
METRICS_STORE_RETRY_AFTER_SECONDS = "METRICS_STORE_RETRY_AFTER_SECONDS"
SLOW_TRANSACTION_THRESHOLD_MS = "SLOW_TRANSACTION_THRESHOLD_MS"
SLOW_QUERY_THRESHOLD_MS = "SLOW_QUERY_THRESHOLD_MS"
STRIPE_WEBHOOK_TOLERANCE_SECONDS = "STRIPE_WEBHOOK_TOLERANCE_SECONDS"
STRIPE_WEBHOOK_MAX_BYTES = "STRIPE_WEBHOOK_MAX_BYTES"
WEBHOOK_AWS_TIMEOUT_SECONDS = "WEBHOOK_AWS_TIMEOUT_SECONDS"
IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
IDEMPOTENCY_EXPIRY_SECONDS = "IDEMPOTENCY_EXPIRY_SECONDS"
ALERTS_TABLE = "ALERTS_TABLE"
ALERT_WINDOWS_TABLE = "ALERT_WINDOWS_TABLE"
ALERT_SILENCES_TABLE = "ALERT_SILENCES_TABLE"
ALERT_DELIVERIES_TABLE = "ALERT_DELIVERIES_TABLE"
ALERTS_TOPIC_ARN = "ALERTS_TOPIC_ARN"
ALERT_RULE_OVERRIDES = "ALERT_RULE_OVERRIDES"
ALERT_RUNBOOK_BASE_URL = "ALERT_RUNBOOK_BASE_URL"
ALERT_AWS_TIMEOUT_SECONDS = "ALERT_AWS_TIMEOUT_SECONDS"
ALERT_SLACK_TIMEOUT_SECONDS = "ALERT_SLACK_TIMEOUT_SECONDS"
ALERT_DELIVERY_ATTEMPTS = "ALERT_DELIVERY_ATTEMPTS"
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

LOG_CHANNELS = ("monitoring", "security", "performance", "stripe", "portal", "webhooks")
LOG_LEVEL_DEFAULTS = {
    "monitoring": "debug",
    "security": "warning",
    "performance": "info",
    "stripe": "info",
    "portal": "info",
    "webhooks": "info",
}
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_LOOPBACK_HTTP = ("http://127.0.0.1:", "http://localhost:")


class ConfigurationError(ValueError):
    """A setting is missing or malformed; the message names the variable, never a secret value."""


# --- secrets --------------------------------------------------------------------------
SecretSource = Literal["unset", "env", "ssm", "secretsmanager"]


@dataclass(frozen=True)
class Secret:
    """A secret given literally, as `ssm:/name` (SecureString) or as `secretsmanager:name`.

    References are resolved through Powertools Parameters on first use and cached for
    `max_age` seconds, so a rotated secret is picked up without a redeploy. The value never
    appears in repr(), so a settings object can be logged.
    """

    variable: str
    source: SecretSource
    reference: str = field(repr=False)
    max_age: int = 300

    @property
    def configured(self) -> bool:
        return self.source != "unset"

    def reveal(self) -> str | None:
        """The secret's value, or None when it is not configured."""
        if self.source == "unset":
            return None
        if self.source == "env":
            return self.reference
        # Imported here: functions whose secrets are all literal never load boto3 for this.
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

        if self.source == "ssm":
            value = parameters.get_parameter(self.reference, decrypt=True, max_age=self.max_age)
        else:
            value = parameters.get_secret(self.reference, max_age=self.max_age)
        return value if isinstance(value, str) else str(value)

    def __repr__(self) -> str:
        return f"Secret({self.variable}, source={self.source})"

    __str__ = __repr__


# --- reading the environment ----------------------------------------------------------
class EnvReader:
    """Typed accessors over a mapping of variables; every error names the variable."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._secrets_max_age = self.integer(SECRETS_MAX_AGE_SECONDS, 300, 0)

    def raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        return default if value is None else value

    def required(self, name: str) -> str:
        value = self.raw(name)
        if value is None:
            raise ConfigurationError(f"{name} is required but not set")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{name} must be true or false, got {value!r}")

    def integer(self, name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigurationError(f"{name} must be an integer, got {value!r}") from None
        _check_range(name, number, minimum, maximum)
        return number

    def number(self, name: str, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number, got {value!r}") from None
        if math.isnan(number):
            raise ConfigurationError(f"{name} must be a number, got {value!r}")
        _check_range(name, number, minimum, maximum)
        return number

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = (self.raw(name) or default).lower()
        if value not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in schemes or not rest:
            raise ConfigurationError(f"{name} must be a {'/'.join(schemes)} URL, got {value!r}")
        return value.rstrip("/")

    def emails(self, name: str) -> tuple[str, ...]:
        addresses = _split_list(self.raw(name))
        for address in addresses:
            if not _EMAIL.match(address):
                raise ConfigurationError(f"{name} holds an invalid e-mail address: {address!r}")
        return addresses

    def phone_numbers(self, name: str) -> tuple[str, ...]:
        numbers = tuple(n.replace(" ", "").replace("-", "") for n in _split_list(self.raw(name)))
        for number in numbers:
            if not _E164.match(number):
                raise ConfigurationError(f"{name} must hold E.164 numbers such as +15555550100, got {number!r}")
        return numbers

    def secret(self, name: str, *aliases: str) -> Secret:
        max_age = self._secrets_max_age
        for variable in (name, *aliases):
            value = self.raw(variable)
            if value is None:
                continue
            for prefix, source in (("ssm:", "ssm"), ("secretsmanager:", "secretsmanager")):
                if value.startswith(prefix):
                    reference = value[len(prefix) :]
                    if not reference:
                        raise ConfigurationError(f"{variable} names an empty {source} reference")
                    return Secret(variable, source, reference, max_age)  # type: ignore[arg-type]
            return Secret(variable, "env", value, max_age)
        return Secret(name, "unset", "", max_age)


def _split_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum}, got {number}")


# --- settings shared by every function ------------------------------------------------
@dataclass(frozen=True)
class SentrySettings:
    dsn: Secret
    environment: str
    traces_sample_rate: float
    profiles_sample_rate: float

    @classmethod
    def from_env(cls, env: EnvReader) -> SentrySettings:
        return cls(
            dsn=env.secret(*SENTRY_DSN_VARIABLES),
            environment=env.string(SENTRY_ENVIRONMENT, "production") or "production",
            traces_sample_rate=env.number(SENTRY_TRACES_SAMPLE_RATE, 0.1, 0.0, 1.0),
            profiles_sample_rate=env.number(SENTRY_PROFILES_SAMPLE_RATE, 0.1, 0.0, 1.0),
        )


@dataclass(frozen=True)
class AlertRecipients:
    emails: tuple[str, ...]
    email_from: str | None
    slack_webhook: Secret
    sms_numbers: tuple[str, ...]

    @classmethod
    def from_env(cls, env: EnvReader) -> AlertRecipients:
        slack = env.secret(ALERT_SLACK_WEBHOOK)
        # http:// only on loopback: the local stack's and the tests' Slack capture servers.
        if slack.source == "env" and not slack.reference.startswith(("https://", *_LOOPBACK_HTTP)):
            raise ConfigurationError(
                f"{ALERT_SLACK_WEBHOOK} must be an https:// URL or an ssm:/secretsmanager: reference"
            )
        email_from = env.string(ALERT_EMAIL_FROM)
        if email_from is not None and not _EMAIL.match(email_from):
            raise ConfigurationError(f"{ALERT_EMAIL_FROM} must be an e-mail address, got {email_from!r}")
        return cls(
            emails=env.emails(ALERT_EMAIL_RECIPIENTS),
            email_from=email_from,
            slack_webhook=slack,
            sms_numbers=env.phone_numbers(ALERT_SMS_RECIPIENTS),
        )


@dataclass(frozen=True)
class MonitoringSettings:
    """The guide's Configuration section: what every function reads."""

    enabled: bool
    stage: str
    sentry: SentrySettings
    alert_recipients: AlertRecipients
    log_levels: Mapping[str, str]
    redis: RedisSettings  # the metric store every function writes to
    metrics_series_cap: int
    metrics_store_timeout: float
    metrics_store_retry_after: float
    slow_transaction_ms: float = 1000.0  # PerformanceMonitor: slower transactions are logged and counted

    @classmethod
    def from_env(cls, env: EnvReader) -> MonitoringSettings:
        levels = {
            channel: env.choice(f"LOG_LEVEL_{channel.upper()}", LOG_LEVELS, default)
            for channel, default in LOG_LEVEL_DEFAULTS.items()
        }
        return cls(
            enabled=env.boolean(MONITORING_ENABLED, True),
            stage=env.string(STAGE, "dev") or "dev",
            sentry=SentrySettings.from_env(env),
            alert_recipients=AlertRecipients.from_env(env),
            log_levels=levels,
            redis=RedisSettings.from_env(env),
            metrics_series_cap=env.integer(METRICS_SERIES_CAP, 2000, 1),
            metrics_store_timeout=env.number(METRICS_STORE_TIMEOUT_SECONDS, 0.5, 0.01, 10.0),
            metrics_store_retry_after=env.number(METRICS_STORE_RETRY_AFTER_SECONDS, 10.0, 0.0, 3600.0),
            slow_transaction_ms=env.number(SLOW_TRANSACTION_THRESHOLD_MS, 1000.0, 0.0, 900_000.0),
        )


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    database: str
    username: str
    password: Secret
    slow_query_ms: float = 100.0  # queries slower than this are logged on the performance channel

    @classmethod
    def from_env(cls, env: EnvReader) -> DatabaseSettings:
        return cls(
            host=env.string(DB_HOST, "127.0.0.1") or "127.0.0.1",
            port=env.integer(DB_PORT, 3306, 1, 65535),
            database=env.string(DB_DATABASE, "askproai") or "askproai",
            username=env.string(DB_USERNAME, "root") or "root",
            password=env.secret(DB_PASSWORD),
            slow_query_ms=env.number(SLOW_QUERY_THRESHOLD_MS, 100.0, 0.0, 900_000.0),
        )


@dataclass(frozen=True)
class RedisSettings:
    url: Secret  # a Redis URL may carry a password

    @classmethod
    def from_env(cls, env: EnvReader) -> RedisSettings:
        url = env.secret(REDIS_URL)
        if url.source == "unset":
            url = Secret(REDIS_URL, "env", "redis://127.0.0.1:6379/0")
        elif url.source == "env" and not url.reference.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(f"{REDIS_URL} must be a redis://, rediss:// or unix:// URL")
        return cls(url=url)


@dataclass(frozen=True)
class StripeSettings:
    secret_key: Secret
    webhook_secrets: Secret  # comma-separated for rotation
    api_base: str | None

    @classmethod
    def from_env(cls, env: EnvReader) -> StripeSettings:
        key = env.secret(STRIPE_SECRET_KEY)
        if key.source == "env" and not key.reference.startswith(("sk_", "rk_")):
            raise ConfigurationError(
                f"{STRIPE_SECRET_KEY} must be a Stripe secret or restricted key (sk_... or rk_...)"
            )
        return cls(
            secret_key=key,
            webhook_secrets=env.secret(STRIPE_WEBHOOK_SECRET),
            api_base=env.url(STRIPE_API_BASE),
        )


@dataclass(frozen=True)
class QueueSettings:
    """The guide's three queues by name: default, webhooks, stripe."""

    urls: Mapping[str, str | None]

    @classmethod
    def from_env(cls, env: EnvReader) -> QueueSettings:
        return cls(
            urls={
                "default": env.url(DEFAULT_QUEUE_URL),
                "webhooks": env.url(WEBHOOKS_QUEUE_URL),
                "stripe": env.url(STRIPE_QUEUE_URL),
            }
        )


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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HealthSettings:
        env = EnvReader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            secret=env.secret(HEALTH_CHECK_SECRET),
            database=DatabaseSettings.from_env(env),
            stripe=StripeSettings.from_env(env),
            queues=QueueSettings.from_env(env),
            check_timeout=env.number(HEALTH_CHECK_TIMEOUT_SECONDS, 3.0, 0.05, 25.0),
            queue_warning_size=env.integer(HEALTH_QUEUE_WARNING_SIZE, 1000, 0),
            disk_path=env.string(HEALTH_DISK_PATH, "/tmp") or "/tmp",  # noqa: S108 - Lambda's only writable disk
            disk_warning_percent=env.number(HEALTH_DISK_WARNING_PERCENT, 90.0, 0.0, 100.0),
            memory_warning_percent=env.number(HEALTH_MEMORY_WARNING_PERCENT, 85.0, 0.0, 100.0),
            memory_limit_mb=env.integer(LAMBDA_MEMORY_SIZE, 0, 0) or None,
        )


@dataclass(frozen=True)
class MetricsSettings:
    monitoring: MonitoringSettings
    secret: Secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MetricsSettings:
        env = EnvReader(environ)
        return cls(monitoring=MonitoringSettings.from_env(env), secret=env.secret(METRICS_SECRET))


# --- alerting -------------------------------------------------------------------------
DEFAULT_RUNBOOK_BASE_URL = "https://github.com/your-org/askproai-monitoring/blob/main/docs/runbooks/"


@dataclass(frozen=True)
class AlertingSettings:
    """What AlertingService needs: its tables, the alerts topic, rule overrides, runbook links."""

    monitoring: MonitoringSettings
    alerts_table: str | None
    windows_table: str | None
    silences_table: str | None
    topic_arn: str | None
    rule_overrides: str | None  # parsed (and validated) by platform_monitoring.alert_rules
    runbook_base_url: str
    aws_timeout: float

    def require(self) -> None:
        """Raise ConfigurationError naming the first missing variable AlertingService cannot do without."""
        for name, value in (
            (ALERTS_TABLE, self.alerts_table),
            (ALERT_WINDOWS_TABLE, self.windows_table),
            (ALERT_SILENCES_TABLE, self.silences_table),
            (ALERTS_TOPIC_ARN, self.topic_arn),
        ):
            if not value:
                raise ConfigurationError(f"{name} is required for alerting but not set")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, monitoring: MonitoringSettings | None = None
    ) -> AlertingSettings:
        env = EnvReader(environ)
        base = env.url(ALERT_RUNBOOK_BASE_URL) or DEFAULT_RUNBOOK_BASE_URL
        return cls(
            monitoring=monitoring or MonitoringSettings.from_env(env),
            alerts_table=env.string(ALERTS_TABLE),
            windows_table=env.string(ALERT_WINDOWS_TABLE),
            silences_table=env.string(ALERT_SILENCES_TABLE),
            topic_arn=env.string(ALERTS_TOPIC_ARN),
            rule_overrides=env.string(ALERT_RULE_OVERRIDES),
            runbook_base_url=base if base.endswith("/") else base + "/",
            aws_timeout=env.number(ALERT_AWS_TIMEOUT_SECONDS, 3.0, 0.1, 30.0),
        )


@dataclass(frozen=True)
class AlertDispatcherSettings:
    alerting: AlertingSettings
    deliveries_table: str | None
    slack_timeout: float
    delivery_attempts: int  # 1 + the function's MaximumRetryAttempts

    @property
    def recipients(self) -> AlertRecipients:
        return self.alerting.monitoring.alert_recipients

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertDispatcherSettings:
        env = EnvReader(environ)
        return cls(
            alerting=AlertingSettings.from_env(environ),
            deliveries_table=env.string(ALERT_DELIVERIES_TABLE),
            slack_timeout=env.number(ALERT_SLACK_TIMEOUT_SECONDS, 5.0, 0.1, 60.0),
            delivery_attempts=env.integer(ALERT_DELIVERY_ATTEMPTS, 3, 1, 10),
        )


@dataclass(frozen=True)
class AlertsApiSettings:
    alerting: AlertingSettings
    secret: Secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertsApiSettings:
        env = EnvReader(environ)
        return cls(alerting=AlertingSettings.from_env(environ), secret=env.secret(ALERTS_API_SECRET))


@dataclass(frozen=True)
class ScheduledChecksSettings:
    health: HealthSettings
    alerting: AlertingSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScheduledChecksSettings:
        health = HealthSettings.from_env(environ)
        return cls(health=health, alerting=AlertingSettings.from_env(environ, monitoring=health.monitoring))


# --- Stripe webhooks ------------------------------------------------------------------
# The verified event travels as one SQS message, whose limit is 256 KiB including its
# attributes; 1 KiB is kept for those. Stripe events are far smaller (a few KiB).
WEBHOOK_MAX_BYTES_LIMIT = 256 * 1024 - 1024
IDEMPOTENCY_EXPIRY_DEFAULT = 30 * 24 * 3600  # Stripe can resend an event for 30 days


@dataclass(frozen=True)
class StripeWebhookSettings:
    """StripeWebhookFunction: verify the signature, enqueue, answer."""

    monitoring: MonitoringSettings
    stripe: StripeSettings
    queue_url: str | None
    tolerance_seconds: int
    max_bytes: int
    aws_timeout: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StripeWebhookSettings:
        env = EnvReader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            stripe=StripeSettings.from_env(env),
            queue_url=env.url(WEBHOOKS_QUEUE_URL),
            tolerance_seconds=env.integer(STRIPE_WEBHOOK_TOLERANCE_SECONDS, 300, 1, 86_400),
            max_bytes=env.integer(STRIPE_WEBHOOK_MAX_BYTES, WEBHOOK_MAX_BYTES_LIMIT, 1, WEBHOOK_MAX_BYTES_LIMIT),
            aws_timeout=env.number(WEBHOOK_AWS_TIMEOUT_SECONDS, 3.0, 0.1, 25.0),
        )


@dataclass(frozen=True)
class WebhookProcessorSettings:
    """WebhookProcessorFunction: idempotency table and how long an event ID is remembered."""

    monitoring: MonitoringSettings
    alerting: AlertingSettings
    idempotency_table: str
    idempotency_expiry_seconds: int
    aws_timeout: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WebhookProcessorSettings:
        env = EnvReader(environ)
        monitoring = MonitoringSettings.from_env(env)
        return cls(
            monitoring=monitoring,
            alerting=AlertingSettings.from_env(environ, monitoring=monitoring),
            idempotency_table=env.required(IDEMPOTENCY_TABLE),
            idempotency_expiry_seconds=env.integer(IDEMPOTENCY_EXPIRY_SECONDS, IDEMPOTENCY_EXPIRY_DEFAULT, 3600),
            aws_timeout=env.number(WEBHOOK_AWS_TIMEOUT_SECONDS, 3.0, 0.1, 25.0),
        )


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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecuritySettings:
        from platform_monitoring.security import Allowlist, BlockingRules, WindowRule  # noqa: PLC0415

        env = EnvReader(environ)
        defaults = BlockingRules()

        def window(rule: WindowRule, limit: str, seconds: str) -> WindowRule:
            return WindowRule(
                rule.name, env.integer(limit, rule.limit, 1), env.integer(seconds, rule.window_seconds, 1), rule.types
            )

        allowlist = env.string(SECURITY_ALLOWLIST)
        try:
            Allowlist.parse(allowlist)
        except ValueError as error:
            raise ConfigurationError(f"{SECURITY_ALLOWLIST} holds an invalid address or CIDR range: {error}") from None
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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EventsSettings:
        env = EnvReader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            secret=env.secret(EVENTS_SECRET),
            security=SecuritySettings.from_env(environ),
            tolerance_seconds=env.integer(EVENTS_TOLERANCE_SECONDS, 300, 1, 3600),
            max_bytes=env.integer(EVENTS_MAX_BYTES, WEBHOOK_MAX_BYTES_LIMIT, 1, 6 * 1024 * 1024),
        )


@dataclass(frozen=True)
class SecurityProcessorSettings:
    """SecurityEventsProcessorFunction: windows and blocks, security_logs in MySQL, alerts."""

    monitoring: MonitoringSettings
    security: SecuritySettings
    database: DatabaseSettings
    alerting: AlertingSettings
    db_timeout: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecurityProcessorSettings:
        env = EnvReader(environ)
        monitoring = MonitoringSettings.from_env(env)
        return cls(
            monitoring=monitoring,
            security=SecuritySettings.from_env(environ),
            database=DatabaseSettings.from_env(env),
            alerting=AlertingSettings.from_env(environ, monitoring=monitoring),
            db_timeout=env.number(HEALTH_CHECK_TIMEOUT_SECONDS, 3.0, 0.05, 25.0),
        )


@dataclass(frozen=True)
class SecurityApiSettings:
    """SecurityApiFunction: GET/PUT/DELETE /api/security/blocks/{ip}, behind ALERTS_API_SECRET."""

    monitoring: MonitoringSettings
    security: SecuritySettings
    secret: Secret

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecurityApiSettings:
        env = EnvReader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            security=SecuritySettings.from_env(environ),
            secret=env.secret(ALERTS_API_SECRET),
        )
