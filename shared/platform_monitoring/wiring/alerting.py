"""The process-wide AlertingService and the alert channels, built from settings and the environment.

The platform's own functions call `alert()` (the guide's `app(AlertingService::class)->alert(...)`)::

    from platform_monitoring.wiring.alerting import alert
    alert("payment_failure", {"count": 5, "window": 5})

Only this layer builds AWS clients for alerting; the alerting package takes them as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platform_monitoring.alerting.delivery.channels import Channel, EmailChannel, SlackChannel, SmsChannel
from platform_monitoring.alerting.delivery.dispatcher import (
    AlertDispatcher,
    DeliveryFailed,
    DeliveryResult,
    channel_test_notification,
)
from platform_monitoring.alerting.delivery.history import DeliveryHistory, DynamoDeliveryHistory
from platform_monitoring.alerting.delivery.records import NoDeliveryRecords
from platform_monitoring.alerting.escalation import DynamoEscalationStore, Escalator
from platform_monitoring.alerting.notification import SnsPublisher, TopicSubscribers, topic_subscribers
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.service import AlertDecision, AlertingService
from platform_monitoring.alerting.settings import AlertDispatcherSettings, AlertingSettings
from platform_monitoring.alerting.store import DynamoAlertStore
from platform_monitoring.core import clients
from platform_monitoring.core.settings import AlertRecipients


def build_alerting_service(settings: AlertingSettings) -> AlertingService:
    """An AlertingService on the template's DynamoDB tables and SNS alerts topic."""
    settings.require()
    assert settings.alerts_table and settings.windows_table and settings.silences_table and settings.topic_arn
    store = DynamoAlertStore(
        clients.dynamodb_client(settings.aws_timeout),
        settings.alerts_table,
        settings.windows_table,
        settings.silences_table,
    )
    return AlertingService(
        RuleSet.load(settings.rule_overrides),
        store,
        SnsPublisher(clients.sns_client(settings.aws_timeout), settings.topic_arn),
        runbook_base_url=settings.runbook_base_url,
        stage=settings.monitoring.stage,
        enabled=settings.monitoring.enabled,
        history=build_delivery_history(settings),
    )


def build_escalator(settings: AlertingSettings, service: AlertingService) -> Escalator:
    """The Escalator (escalation steps, acknowledgement timeouts) on the service's alerts table."""
    settings.require()
    assert settings.alerts_table
    store = DynamoEscalationStore(clients.dynamodb_client(settings.aws_timeout), settings.alerts_table)
    return Escalator(service, store)


def build_delivery_history(settings: AlertingSettings) -> DeliveryHistory | None:
    """The delivery history on AlertDeliveryHistoryTable, or None when ALERT_DELIVERY_HISTORY_TABLE is unset."""
    if not settings.history_table:
        return None
    return DynamoDeliveryHistory(clients.dynamodb_client(settings.aws_timeout), settings.history_table)


def build_channels(recipients: AlertRecipients, slack_timeout: float, aws_timeout: float) -> list[Channel]:
    """The three channels from AlertRecipients (settings), with lazily created AWS clients."""
    return [
        EmailChannel(lambda: clients.ses_client(aws_timeout), recipients.email_from, recipients.emails),
        SmsChannel(lambda: clients.sns_client(aws_timeout), recipients.sms_numbers),
        SlackChannel(recipients.slack_webhook, slack_timeout),
    ]


_default_service: AlertingService | None = None


def alerting_service(environ: Mapping[str, str] | None = None) -> AlertingService:
    """The process's AlertingService, built from the environment on first use."""
    global _default_service  # noqa: PLW0603 - one service per Lambda instance
    if _default_service is None:
        _default_service = build_alerting_service(AlertingSettings.from_env(environ))
    return _default_service


def alert(alert_type: str, context: Mapping[str, Any] | None = None) -> AlertDecision:
    """The guide's `app(AlertingService::class)->alert(type, context)`."""
    return alerting_service().alert(alert_type, context)


def send_test_alert(settings: AlertDispatcherSettings) -> list[DeliveryResult]:
    """`monitoring-test --alert`: a test notification through every configured channel, no records kept."""
    dispatcher = AlertDispatcher(
        build_channels(settings.recipients, settings.slack_timeout, settings.alerting.aws_timeout),
        NoDeliveryRecords(),
        attempts=1,
    )
    notification = channel_test_notification(settings.alerting.monitoring.stage, settings.alerting.runbook_base_url)
    try:
        return dispatcher.deliver(notification)
    except DeliveryFailed as failed:
        return failed.results


def alert_topics_subscribers(settings: AlertDispatcherSettings) -> dict[str, TopicSubscribers | str | None]:
    """`monitoring-test --alert`: who the alerts topic and the operations alarm topic reach, by topic
    name: their subscribers, the error that kept them from being listed, or None (its ARN is not set)."""
    client = clients.sns_client(settings.alerting.aws_timeout)
    answers: dict[str, TopicSubscribers | str | None] = {}
    for name, arn in (
        ("AlertsTopic", settings.alerting.topic_arn),
        ("OperationsAlarmTopic", settings.operations_topic_arn),
    ):
        if not arn:
            answers[name] = None
            continue
        try:
            answers[name] = topic_subscribers(client, arn)
        except Exception as error:  # AccessDenied, NotFound, no network: said, not fatal
            answers[name] = type(error).__name__
    return answers
