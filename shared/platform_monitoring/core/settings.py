"""Settings every function reads: the guide's Configuration section and the shared connections.

Each concern's own settings live beside it (health/settings.py, alerting/settings.py, ...); the
variable names read by more than one concern live here. Precedence: an explicit argument, then
the environment, then the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from platform_monitoring.core.config import _EMAIL, EnvReader, EnvSource, Secret, env_reader

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
ALERTS_API_SECRET = "ALERTS_API_SECRET"
# The powers beyond reading and acknowledging: silences, manual blocks and unblocks (docs/security.md).
ALERTS_ADMIN_SECRET = "ALERTS_ADMIN_SECRET"
DB_HOST = "DB_HOST"
DB_PORT = "DB_PORT"
DB_DATABASE = "DB_DATABASE"
DB_USERNAME = "DB_USERNAME"
DB_PASSWORD = "DB_PASSWORD"
DB_SSL_CA = "DB_SSL_CA"  # a PEM CA bundle: MySQL over TLS, the server's certificate checked against it
DB_SSL_VERIFY = "DB_SSL_VERIFY"  # false: TLS without checking the certificate or host name (not advised)
REDIS_URL = "REDIS_URL"
REDIS_SSL_CA = "REDIS_SSL_CA"  # a PEM CA bundle for a rediss:// REDIS_URL (else the system's trust store)
STRIPE_SECRET_KEY = "STRIPE_SECRET_KEY"
STRIPE_WEBHOOK_SECRET = "STRIPE_WEBHOOK_SECRET"
STRIPE_API_BASE = "STRIPE_API_BASE"
DEFAULT_QUEUE_URL = "DEFAULT_QUEUE_URL"
WEBHOOKS_QUEUE_URL = "WEBHOOKS_QUEUE_URL"
STRIPE_QUEUE_URL = "STRIPE_QUEUE_URL"
HEALTH_CHECK_TIMEOUT_SECONDS = "HEALTH_CHECK_TIMEOUT_SECONDS"
METRICS_SERIES_CAP = "METRICS_SERIES_CAP"
METRICS_STORE_TIMEOUT_SECONDS = "METRICS_STORE_TIMEOUT_SECONDS"
METRICS_STORE_RETRY_AFTER_SECONDS = "METRICS_STORE_RETRY_AFTER_SECONDS"
SLOW_TRANSACTION_THRESHOLD_MS = "SLOW_TRANSACTION_THRESHOLD_MS"
SLOW_QUERY_THRESHOLD_MS = "SLOW_QUERY_THRESHOLD_MS"
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
# Slack's incoming-webhook hosts (commercial and GovSlack).
SLACK_WEBHOOK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def slack_webhook_problem(url: str) -> str | None:
    """Why `url` is not a Slack incoming webhook the alerts may be posted to, or None when it is.

    One rule for a literal ALERT_SLACK_WEBHOOK (checked at cold start) and for the value an
    ssm:/secretsmanager: reference resolves to (checked before each post): https on Slack's hooks
    host, no credentials or other port in it; http or https only on loopback (the local stack's and
    the tests' Slack capture). Never file:, ftp: or any other scheme. The URL itself never appears
    in the answer (it is a secret)."""
    import urllib.parse  # noqa: PLC0415

    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "is not a URL"
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials before its host"
    if host in _LOOPBACK_HOSTS and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return "must be an https:// URL"
    if host not in SLACK_WEBHOOK_HOSTS or port not in (None, 443):
        return f"must be a Slack incoming webhook on {' or '.join(SLACK_WEBHOOK_HOSTS)}"
    return None


# --- settings shared by every function ------------------------------------------------
@dataclass(frozen=True)
class ApiSecrets:
    """The two powers of the alerts and security-blocks APIs (AlertsApiFunction, SecurityApiFunction):
    `reader` reads, acknowledges and resolves; `admin` creates and removes silences, blocks and
    unblocks. Either unset closes its routes (503); neither opens the other's (docs/security.md)."""

    reader: Secret
    admin: Secret

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> ApiSecrets:
        env = env_reader(environ)
        return cls(
            reader=env.secret(
                ALERTS_API_SECRET,
                doc="secret of the alerts and security-blocks APIs (`X-Alerts-Secret` or Bearer); unset closes them",
            ),
            admin=env.secret(
                ALERTS_ADMIN_SECRET,
                doc="admin secret: silences, blocks, unblocks (`X-Alerts-Admin-Secret` or Bearer); unset closes them",
            ),
        )


@dataclass(frozen=True)
class SentrySettings:
    dsn: Secret
    environment: str
    traces_sample_rate: float
    profiles_sample_rate: float

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> SentrySettings:
        env = env_reader(environ)
        return cls(
            dsn=env.secret(*SENTRY_DSN_VARIABLES, doc="Sentry DSN; unset leaves Sentry off and unimported"),
            environment=env.string(SENTRY_ENVIRONMENT, "production", doc="Sentry's environment tag") or "production",
            traces_sample_rate=env.number(
                SENTRY_TRACES_SAMPLE_RATE,
                0.0,
                0.0,
                1.0,
                doc="share of invocations traced by Sentry performance (the APM); 0 is off",
            ),  # 0: no APM
            profiles_sample_rate=env.number(
                SENTRY_PROFILES_SAMPLE_RATE, 0.1, 0.0, 1.0, doc="share of traced invocations also profiled"
            ),
        )


@dataclass(frozen=True)
class AlertRecipients:
    emails: tuple[str, ...]
    email_from: str | None
    slack_webhook: Secret
    sms_numbers: tuple[str, ...]

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> AlertRecipients:
        env = env_reader(environ)
        slack = env.secret(ALERT_SLACK_WEBHOOK, doc="Slack incoming-webhook URL (`https://`); unset skips Slack")
        # A reference's value is checked by the same rule when it is read (SlackChannel.send).
        problem = slack_webhook_problem(slack.reference) if slack.source == "env" else None
        if problem is not None:
            slack = env.fail(
                f"{ALERT_SLACK_WEBHOOK} {problem} (or an ssm:/secretsmanager: reference)",
                Secret(ALERT_SLACK_WEBHOOK, "unset", ""),
            )
        email_from = env.string(ALERT_EMAIL_FROM, doc="sender of alert e-mails (SES-verified)")
        if email_from is not None and not _EMAIL.match(email_from):
            email_from = env.fail(f"{ALERT_EMAIL_FROM} must be an e-mail address, got {email_from!r}", None)
        return cls(
            emails=env.emails(ALERT_EMAIL_RECIPIENTS, doc="who gets alert e-mails; empty skips e-mail"),
            email_from=email_from,
            slack_webhook=slack,
            sms_numbers=env.phone_numbers(
                ALERT_SMS_RECIPIENTS, doc="who gets alert SMS (`+15555550100`); empty skips SMS"
            ),
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
    def from_env(cls, environ: EnvSource = None) -> MonitoringSettings:
        env = env_reader(environ)
        levels = {
            channel: env.choice(
                f"LOG_LEVEL_{channel.upper()}", LOG_LEVELS, default, doc=f"level of the {channel} log channel"
            )
            for channel, default in LOG_LEVEL_DEFAULTS.items()
        }
        return cls(
            enabled=env.boolean(
                MONITORING_ENABLED, True, doc="master switch: false records nothing and sends no alert"
            ),
            stage=env.string(STAGE, "dev", doc="stage name in alerts and logs") or "dev",
            sentry=SentrySettings.from_env(env),
            alert_recipients=AlertRecipients.from_env(env),
            log_levels=levels,
            redis=RedisSettings.from_env(env),
            metrics_series_cap=env.integer(
                METRICS_SERIES_CAP, 2000, 1, doc="series kept per metric (a label with unbounded values stops here)"
            ),
            metrics_store_timeout=env.number(
                METRICS_STORE_TIMEOUT_SECONDS, 0.5, 0.01, 10.0, doc="Redis timeout of the metric writes"
            ),
            metrics_store_retry_after=env.number(
                METRICS_STORE_RETRY_AFTER_SECONDS, 10.0, 0.0, 3600.0, doc="pause in metric writes after a failed one"
            ),
            slow_transaction_ms=env.number(
                SLOW_TRANSACTION_THRESHOLD_MS,
                1000.0,
                0.0,
                900_000.0,
                doc="a transaction this slow is logged and counted as slow",
            ),
        )


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    database: str
    username: str
    password: Secret
    slow_query_ms: float = 100.0  # queries slower than this are logged on the performance channel
    ssl_ca: str | None = None  # DB_SSL_CA: TLS to MySQL, verified against this CA bundle
    ssl_verify: bool = True  # DB_SSL_VERIFY: check the certificate and the host name

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> DatabaseSettings:
        env = env_reader(environ)
        return cls(
            host=env.string(DB_HOST, "127.0.0.1", doc="MySQL host") or "127.0.0.1",
            port=env.integer(DB_PORT, 3306, 1, 65535, doc="MySQL port"),
            database=env.string(DB_DATABASE, "askproai", doc="MySQL database") or "askproai",
            username=env.string(DB_USERNAME, "root", doc="MySQL user") or "root",
            password=env.secret(DB_PASSWORD, doc="MySQL password"),
            slow_query_ms=env.number(
                SLOW_QUERY_THRESHOLD_MS,
                100.0,
                0.0,
                900_000.0,
                doc="a query this slow is logged (as a fingerprint) and counted",
            ),
            ssl_ca=_ca_file(env, DB_SSL_CA, "CA bundle MySQL's certificate is checked against; set: TLS required"),
            ssl_verify=env.boolean(DB_SSL_VERIFY, True, doc="check MySQL's certificate and host name (with DB_SSL_CA)"),
        )


def _ca_file(env: EnvReader, name: str, doc: str) -> str | None:
    """A CA bundle's path, which must be a readable file (a typo must not silently mean 'no TLS')."""
    path = env.string(name, doc=doc)
    if path is not None and not Path(path).is_file():
        return env.fail(f"{name} must name a PEM CA bundle file, and {path!r} is not a file", None)
    return path


@dataclass(frozen=True)
class RedisSettings:
    url: Secret  # a Redis URL may carry a password; rediss:// is TLS (redis-py verifies the certificate)
    ssl_ca: str | None = None  # REDIS_SSL_CA: the CA bundle a rediss:// server's certificate is checked against

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> RedisSettings:
        env = env_reader(environ)
        url = env.secret(
            REDIS_URL, default="redis://127.0.0.1:6379/0", doc="Redis of the metric store (a URL may hold a password)"
        )
        if url.source == "env" and not url.reference.startswith(("redis://", "rediss://", "unix://")):
            url = env.fail(f"{REDIS_URL} must be a redis://, rediss:// or unix:// URL", url)
        ssl_ca = _ca_file(env, REDIS_SSL_CA, "CA bundle a `rediss://` server's certificate is checked against")
        if ssl_ca is not None and url.source == "env" and not url.reference.startswith("rediss://"):
            ssl_ca = env.fail(f"{REDIS_SSL_CA} is set but {REDIS_URL} is not a rediss:// (TLS) URL", None)
        return cls(url=url, ssl_ca=ssl_ca)


@dataclass(frozen=True)
class StripeSettings:
    secret_key: Secret
    webhook_secrets: Secret  # comma-separated for rotation
    api_base: str | None

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> StripeSettings:
        env = env_reader(environ)
        key = env.secret(STRIPE_SECRET_KEY, doc="Stripe secret or restricted key (`sk_...`/`rk_...`)")
        if key.source == "env" and not key.reference.startswith(("sk_", "rk_")):
            key = env.fail(
                f"{STRIPE_SECRET_KEY} must be a Stripe secret or restricted key (sk_... or rk_...)",
                Secret(STRIPE_SECRET_KEY, "unset", ""),
            )
        return cls(
            secret_key=key,
            webhook_secrets=env.secret(
                STRIPE_WEBHOOK_SECRET,
                doc="Stripe webhook signing secrets (`whsec_...`), comma-separated while one is rolled",
            ),
            api_base=env.url(STRIPE_API_BASE, doc="Stripe API base URL (localstripe locally); unset is Stripe's"),
        )


@dataclass(frozen=True)
class QueueSettings:
    """The guide's three queues by name: default, webhooks, stripe."""

    urls: Mapping[str, str | None]

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> QueueSettings:
        env = env_reader(environ)
        return cls(
            urls={
                "default": env.url(DEFAULT_QUEUE_URL, doc="the default queue whose depth the health check reports"),
                "webhooks": env.url(
                    WEBHOOKS_QUEUE_URL,
                    doc="the webhooks queue (its depth in the health check; where StripeWebhookFunction queues events)",
                ),
                "stripe": env.url(STRIPE_QUEUE_URL, doc="the stripe queue whose depth the health check reports"),
            }
        )


# --- Stripe webhooks ------------------------------------------------------------------
# The verified event travels as one SQS message, whose limit is 256 KiB including its
# attributes; 1 KiB is kept for those. Stripe events are far smaller (a few KiB).
WEBHOOK_MAX_BYTES_LIMIT = 256 * 1024 - 1024
