"""WebhookProcessorFunction: Stripe events from the webhooks queue, each processed exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.core import clients
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.performance import PerformanceMonitor
from platform_monitoring.webhooks.processor import WebhookProcessor
from platform_monitoring.webhooks.settings import WebhookProcessorSettings
from platform_monitoring.wiring.alerting import build_alerting_service

settings = load_settings(WebhookProcessorSettings.from_env)
configure(settings.monitoring)
persistence = DynamoDBPersistenceLayer(
    table_name=settings.idempotency_table, boto3_client=clients.dynamodb_client(settings.aws_timeout)
)
processor = WebhookProcessor(
    persistence,
    # payment_failure, stripe_dispute and stripe_webhook_failure are counted against their rules here.
    alerts=build_alerting_service(
        load_settings(lambda env: AlertingSettings.from_env(env, monitoring=settings.monitoring))
    ),
    monitor=PerformanceMonitor(settings.monitoring.slow_transaction_ms),
    expiry_seconds=settings.idempotency_expiry_seconds,
)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return processor.handle_batch(event, context)
