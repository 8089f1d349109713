"""Alerting's settings: its tables, the alerts topic, rule overrides, runbook links, delivery timeouts."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.core.config import ConfigurationError, EnvSource, Secret, env_reader
from platform_monitoring.core.settings import (
    ALERTS_ADMIN_SECRET,
    ALERTS_API_SECRET,
    AlertRecipients,
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
    def from_env(cls, environ: EnvSource = None, monitoring: MonitoringSettings | None = None) -> AlertingSettings:
        env = env_reader(environ)
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
            history_table=env.string(ALERT_DELIVERY_HISTORY_TABLE),
        )


@dataclass(frozen=True)
class AlertDispatcherSettings:
    alerting: AlertingSettings
    deliveries_table: str | None
    slack_timeout: float
    delivery_attempts: int  # 1 + the function's MaximumRetryAttempts
    operations_topic_arn: str | None = None  # read by monitoring-test --alert only

    @property
    def recipients(self) -> AlertRecipients:
        return self.alerting.monitoring.alert_recipients

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> AlertDispatcherSettings:
        env = env_reader(environ)
        return cls(
            alerting=AlertingSettings.from_env(env),
            deliveries_table=env.string(ALERT_DELIVERIES_TABLE),
            slack_timeout=env.number(ALERT_SLACK_TIMEOUT_SECONDS, 5.0, 0.1, 60.0),
            delivery_attempts=env.integer(ALERT_DELIVERY_ATTEMPTS, 3, 1, 10),
            operations_topic_arn=env.string(OPERATIONS_ALARM_TOPIC_ARN),
        )


@dataclass(frozen=True)
class AlertsApiSettings:
    alerting: AlertingSettings
    secret: Secret  # reading alerts, ack and resolve
    admin_secret: Secret  # creating and removing silences; unset: those routes refuse (503)

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> AlertsApiSettings:
        env = env_reader(environ)
        return cls(
            alerting=AlertingSettings.from_env(env),
            secret=env.secret(ALERTS_API_SECRET),
            admin_secret=env.secret(ALERTS_ADMIN_SECRET),
        )
