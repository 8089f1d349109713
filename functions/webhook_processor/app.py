"""WebhookProcessorFunction: Stripe events from the webhooks queue, each processed exactly once."""

from __future__ import annotations

from typing import Any

from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.performance import PerformanceMonitor
from platform_monitoring.webhooks.settings import WebhookProcessorSettings
from platform_monitoring.wiring.alerting import build_alerting_service
from platform_monitoring.wiring.webhooks import build_webhook_processor

settings = load_settings(WebhookProcessorSettings.from_env)
configure(settings.monitoring)
processor = build_webhook_processor(
    settings,
    build_alerting_service(load_settings(lambda env: AlertingSettings.from_env(env, monitoring=settings.monitoring))),
    monitor=PerformanceMonitor(settings.monitoring.slow_transaction_ms),
)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return processor.handle_batch(event, context)
