"""The reports' sources and sender, built from ReportsSettings (the only place their clients are made)."""

from __future__ import annotations

from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.store import DynamoAlertStore
from platform_monitoring.core import clients
from platform_monitoring.core.config import ConfigurationError
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.reports.delivery import ReportSender, Sent
from platform_monitoring.reports.model import Report
from platform_monitoring.reports.runner import ReportSources
from platform_monitoring.reports.settings import ReportsSettings
from platform_monitoring.security.review import DynamoBlockReader, MySqlSecurityLogReader


def build_report_sources(settings: ReportsSettings) -> ReportSources:
    alerting = settings.alerting

    def alert_store() -> DynamoAlertStore:
        alerting.require()
        assert alerting.alerts_table and alerting.windows_table and alerting.silences_table
        return DynamoAlertStore(
            clients.dynamodb_client(alerting.aws_timeout),
            alerting.alerts_table,
            alerting.windows_table,
            alerting.silences_table,
        )

    def blocks() -> DynamoBlockReader:
        if not settings.security.blocks_table:
            raise ConfigurationError("SECURITY_BLOCKS_TABLE is required for the weekly security review but not set")
        return DynamoBlockReader(clients.dynamodb_client(settings.security.aws_timeout), settings.security.blocks_table)

    return ReportSources(
        stage=alerting.monitoring.stage,
        rules=RuleSet.load(alerting.rule_overrides),
        alert_store=alert_store,
        security_logs=lambda: MySqlSecurityLogReader(settings.database, settings.query_timeout),
        blocks=blocks,
        metric_snapshot=lambda: recorder.backend.snapshot(),  # noqa: PLW0108 - the backend is made on first use
    )


def build_report_sender(settings: ReportsSettings) -> ReportSender:
    recipients = settings.alerting.monitoring.alert_recipients
    ses = clients.ses_client(settings.alerting.aws_timeout) if recipients.email_from and settings.recipients else None
    return ReportSender(ses, recipients.email_from, settings.recipients, recipients.slack_webhook)


def render_and_send(
    sources: ReportSources, sender: ReportSender | None, kind: str, now_ms: int
) -> tuple[Report, list[Sent]]:
    """The report of `kind` as of now_ms and, with a sender, what each channel did with it."""
    report = sources.render(kind, now_ms)
    return report, (sender.send(report) if sender is not None else [])
