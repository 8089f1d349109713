"""AlertDispatcherFunction: each alert from the SNS alerts topic, delivered by email, SMS and Slack.

One channel failing never stops the others; delivered targets are recorded, and the function
raises after recording so that Lambda retries only what failed (then the dead-letter queue).

It is subscribed to OperationsAlarmTopic too: a CloudWatch alarm's state change (ALARM / OK) is
raised or resolved as a `cloudwatch_alarm` alert (alerting/external.py), which comes back here
through the alerts topic like every other alert.
"""

from __future__ import annotations

from typing import Any

from platform_monitoring.alerting.delivery.dispatcher import AlertDispatcher, DeliveryFailed, DeliveryResult
from platform_monitoring.alerting.delivery.records import DynamoDeliveryStore
from platform_monitoring.alerting.external import ExternalAlerts, cloudwatch_alarm, is_cloudwatch_alarm
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.alerting.settings import AlertDispatcherSettings
from platform_monitoring.core import clients
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.wiring.alerting import build_alerting_service, build_channels, build_delivery_history

settings = load_settings(AlertDispatcherSettings.from_env)
configure(settings.alerting.monitoring)
settings.require()
assert settings.deliveries_table  # require() refuses an unset one
alerting = build_alerting_service(settings.alerting)
external = ExternalAlerts(alerting)


def report_channel_failure(notification: Notification, result: DeliveryResult) -> None:
    """A channel failed on the last attempt: tell people through the channels that work."""
    alerting.alert(
        "alert_channel_failure",
        {
            "channel": result.channel,
            "target": result.target,
            "alert_type": notification.alert_type,
            "alert_id": notification.alert_id,
            "attempts": result.attempt,
            "error": result.detail,
        },
    )


dispatcher = AlertDispatcher(
    build_channels(settings.recipients, settings.slack_timeout, settings.alerting.aws_timeout),
    DynamoDeliveryStore(clients.dynamodb_client(settings.alerting.aws_timeout), settings.deliveries_table),
    attempts=settings.delivery_attempts,
    report_failure=report_channel_failure,
    history=build_delivery_history(settings.alerting),
)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    delivered: list[dict[str, Any]] = []
    failed: list[DeliveryFailed] = []
    alarms: list[dict[str, str]] = []
    for record in event.get("Records") or []:
        message = record["Sns"]["Message"]
        if is_cloudwatch_alarm(message):
            alarm = cloudwatch_alarm(message)  # INSUFFICIENT_DATA: None, nothing to do
            if alarm is not None:
                alarms.append(external.apply(alarm).to_api())
            continue
        notification = Notification.from_json(message)  # malformed: raise, retry, DLQ
        try:
            results = dispatcher.deliver(notification)
        except DeliveryFailed as failure:
            failed.append(failure)
            results = failure.results
        delivered.append(
            {
                "notification_id": notification.notification_id,
                "alert_id": notification.alert_id,
                "results": {result.target: result.status for result in results},
            }
        )
    if failed:
        monitoring_log.warning(
            "Alert delivery incomplete; Lambda retries the failed targets", extra={"delivered": delivered}
        )
        raise failed[0]
    return {"notifications": delivered, **({"alarms": alarms} if alarms else {})}
