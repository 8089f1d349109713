"""SecurityEventsProcessorFunction: security events from the queue (or EventBridge) -> windows, blocks,
metrics, the security_breach_attempt alert, the security log and the security_logs table."""

from __future__ import annotations

from typing import Any

from platform_monitoring.alerting import AlertingService
from platform_monitoring.observability import configure, instrument
from platform_monitoring.security import SecurityMonitor
from platform_monitoring.security_events import MySqlSecurityLog, SecurityEventsProcessor
from platform_monitoring.settings import SecurityProcessorSettings

settings = SecurityProcessorSettings.from_env()
configure(settings.monitoring)
monitor = SecurityMonitor.from_settings(settings.security, alerts=AlertingService.from_settings(settings.alerting))
processor = SecurityEventsProcessor(monitor, MySqlSecurityLog(settings.database, settings.db_timeout))


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return processor.handle(event, context)
