"""SecurityEventsProcessorFunction: security events from the queue (or EventBridge) -> windows, blocks,
metrics, the security_breach_attempt alert, the security log and the security_logs table."""

from __future__ import annotations

from typing import Any

from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.security.processor import SecurityEventsProcessor
from platform_monitoring.security.security_logs import MySqlSecurityLog
from platform_monitoring.security.settings import SecurityProcessorSettings
from platform_monitoring.wiring.alerting import build_alerting_service
from platform_monitoring.wiring.security import build_security_monitor

settings = load_settings(SecurityProcessorSettings.from_env)
configure(settings.monitoring)
monitor = build_security_monitor(
    settings.security,
    alerts=build_alerting_service(
        load_settings(lambda env: AlertingSettings.from_env(env, monitoring=settings.monitoring))
    ),
)
processor = SecurityEventsProcessor(monitor, MySqlSecurityLog(settings.database, settings.db_timeout))


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return processor.handle(event, context)
