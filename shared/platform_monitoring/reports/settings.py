"""ReportsFunction's settings: whom the reports go to, and what they read."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.core.config import EnvSource, env_reader
from platform_monitoring.core.settings import DatabaseSettings
from platform_monitoring.security.settings import SecuritySettings

REPORT_EMAIL_RECIPIENTS = "REPORT_EMAIL_RECIPIENTS"
REPORT_QUERY_TIMEOUT_SECONDS = "REPORT_QUERY_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class ReportsSettings:
    alerting: AlertingSettings  # the episodes; its monitoring settings carry MySQL, Redis, the sender, Slack
    security: SecuritySettings  # the blocks table
    database: DatabaseSettings  # security_logs
    recipients: tuple[str, ...]  # REPORT_EMAIL_RECIPIENTS, else the alert email recipients
    query_timeout: float

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> ReportsSettings:
        env = env_reader(environ)
        alerting = AlertingSettings.from_env(env)
        recipients = (
            env.emails(
                REPORT_EMAIL_RECIPIENTS, doc="who gets the scheduled reports; empty: the alert e-mail recipients"
            )
            or alerting.monitoring.alert_recipients.emails
        )
        return cls(
            alerting=alerting,
            security=SecuritySettings.from_env(env),
            database=DatabaseSettings.from_env(env),
            recipients=recipients,
            query_timeout=env.number(
                REPORT_QUERY_TIMEOUT_SECONDS, 10.0, 0.5, 60.0, doc="timeout of the reports' MySQL and DynamoDB queries"
            ),
        )
