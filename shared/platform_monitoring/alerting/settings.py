"""Alerting's settings: its tables, the alerts topic, rule overrides, runbook links, delivery timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platform_monitoring.core.config import ConfigurationError, EnvReader, EnvSource, Secret, env_reader
from platform_monitoring.core.settings import (
    AlertRecipients,
    ApiSecrets,
    MonitoringSettings,
)

ALERTS_TABLE = "ALERTS_TABLE"
ALERT_WINDOWS_TABLE = "ALERT_WINDOWS_TABLE"
ALERT_SILENCES_TABLE = "ALERT_SILENCES_TABLE"
ALERT_DELIVERIES_TABLE = "ALERT_DELIVERIES_TABLE"
ALERT_DELIVERY_HISTORY_TABLE = "ALERT_DELIVERY_HISTORY_TABLE"
ALERTS_TOPIC_ARN = "ALERTS_TOPIC_ARN"
ALERT_RULE_OVERRIDES = "ALERT_RULE_OVERRIDES"
ALERT_RUNBOOK_BASE_URL = "ALERT_RUNBOOK_BASE_URL"
ALERT_AWS_TIMEOUT_SECONDS = "ALERT_AWS_TIMEOUT_SECONDS"
ALERT_SLACK_TIMEOUT_SECONDS = "ALERT_SLACK_TIMEOUT_SECONDS"
ALERT_DELIVERY_ATTEMPTS = "ALERT_DELIVERY_ATTEMPTS"
ALERT_TIME_ZONE = "ALERT_TIME_ZONE"
ALERTMANAGER_WEBHOOK_SECRET = "ALERTMANAGER_WEBHOOK_SECRET"
# The stack's OperationsAlarmTopic (output OperationsAlarmTopicArn): `monitoring-test --alert` warns
# when it, or the alerts topic, has no confirmed subscriber.
OPERATIONS_ALARM_TOPIC_ARN = "OPERATIONS_ALARM_TOPIC_ARN"


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
    history_table: str | None = None  # every delivery attempt (alerting/delivery/history.py)
    time_zone: str = "UTC"  # the operator's (IANA): absence rules' active hours are read in it

    def require(self) -> None:
        """Raise one ConfigurationError naming every variable AlertingService cannot do without."""
        missing = [
            f"{name} is required for alerting but not set"
            for name, value in (
                (ALERTS_TABLE, self.alerts_table),
                (ALERT_WINDOWS_TABLE, self.windows_table),
                (ALERT_SILENCES_TABLE, self.silences_table),
                (ALERTS_TOPIC_ARN, self.topic_arn),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError.of(missing)

    @classmethod
    def from_env(cls, environ: EnvSource = None, monitoring: MonitoringSettings | None = None) -> AlertingSettings:
        env = env_reader(environ)
        base = (
            env.url(ALERT_RUNBOOK_BASE_URL, default=DEFAULT_RUNBOOK_BASE_URL, doc="base of the runbook links in alerts")
            or DEFAULT_RUNBOOK_BASE_URL
        )
        return cls(
            monitoring=monitoring or MonitoringSettings.from_env(env),
            alerts_table=env.string(ALERTS_TABLE, doc="DynamoDB table of alerts"),
            windows_table=env.string(
                ALERT_WINDOWS_TABLE, doc="DynamoDB table of the rules' counting windows and error-rate samples"
            ),
            silences_table=env.string(ALERT_SILENCES_TABLE, doc="DynamoDB table of silences"),
            topic_arn=env.string(ALERTS_TOPIC_ARN, doc="SNS topic every firing or resolved alert is published to"),
            rule_overrides=env.string(
                ALERT_RULE_OVERRIDES,
                doc="rule changes without a deploy: `<type>.<field>=<value>`, comma-separated (docs/alerting.md)",
            ),
            runbook_base_url=base if base.endswith("/") else base + "/",
            # 2 DynamoDB attempts: 7 s at most (tests/unit/core/test_call_budgets.py)
            aws_timeout=env.number(
                ALERT_AWS_TIMEOUT_SECONDS, 1.5, 0.1, 30.0, doc="timeout of alerting's DynamoDB and SNS calls"
            ),
            history_table=env.string(
                ALERT_DELIVERY_HISTORY_TABLE, doc="DynamoDB table of every delivery attempt; unset keeps no history"
            ),
            time_zone=_time_zone(
                env.string(ALERT_TIME_ZONE, "UTC", doc="IANA time zone the absence rules' active hours are read in")
                or "UTC",
                env,
            ),
        )


def _time_zone(name: str, env: EnvReader) -> str:
    if name.upper() in ("UTC", "ETC/UTC"):
        return name  # needs no time zone database (see alerting/absence.py)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return env.fail(f"{ALERT_TIME_ZONE} must be an IANA time zone such as Europe/Berlin, got {name!r}", "UTC")
    return name


@dataclass(frozen=True)
class AlertDispatcherSettings:
    alerting: AlertingSettings
    deliveries_table: str | None
    slack_timeout: float
    delivery_attempts: int  # 1 + the function's MaximumRetryAttempts
    operations_topic_arn: str | None = None  # read by monitoring-test --alert only

    def require(self) -> None:
        """Raise one ConfigurationError naming every table or topic the dispatcher cannot do without."""
        missing = [] if self.deliveries_table else [f"{ALERT_DELIVERIES_TABLE} is required but not set"]
        try:
            self.alerting.require()
        except ConfigurationError as error:
            missing.extend(error.errors)
        if missing:
            raise ConfigurationError.of(missing)

    @property
    def recipients(self) -> AlertRecipients:
        return self.alerting.monitoring.alert_recipients

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> AlertDispatcherSettings:
        env = env_reader(environ)
        return cls(
            alerting=AlertingSettings.from_env(env),
            deliveries_table=env.string(
                ALERT_DELIVERIES_TABLE, doc="DynamoDB table of delivered targets (a retry sends only what failed)"
            ),
            slack_timeout=env.number(
                ALERT_SLACK_TIMEOUT_SECONDS, 5.0, 0.1, 60.0, doc="timeout of a Slack webhook post"
            ),
            delivery_attempts=env.integer(
                ALERT_DELIVERY_ATTEMPTS, 3, 1, 10, doc="attempts per alert: 1 + the function's MaximumRetryAttempts"
            ),
            operations_topic_arn=env.string(
                OPERATIONS_ALARM_TOPIC_ARN, doc="the stack's OperationsAlarmTopic (`monitoring-test --alert` checks it)"
            ),
        )


@dataclass(frozen=True)
class AlertsApiSettings:
    alerting: AlertingSettings
    secrets: ApiSecrets  # reader: alerts, ack and resolve; admin: silences
    # POST /api/alerts/alertmanager's own bearer secret: Alertmanager can raise and resolve its
    # alerts there, not acknowledge, resolve or silence the bundle's (ALERTS_API_SECRET).
    alertmanager_secret: Secret

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> AlertsApiSettings:
        env = env_reader(environ)
        return cls(
            alerting=AlertingSettings.from_env(env),
            secrets=ApiSecrets.from_env(env),
            alertmanager_secret=env.secret(
                ALERTMANAGER_WEBHOOK_SECRET,
                doc="Bearer secret Alertmanager sends to POST /api/alerts/alertmanager; unset closes it",
            ),
        )
