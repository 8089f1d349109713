"""WebhookProcessorFunction: Stripe events from the webhooks queue, each processed exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from platform_monitoring import clients
from platform_monitoring.alerting import AlertingService
from platform_monitoring.observability import configure, instrument
from platform_monitoring.performance import PerformanceMonitor
from platform_monitoring.settings import WebhookProcessorSettings
from platform_monitoring.webhook_processor import WebhookProcessor

settings = WebhookProcessorSettings.from_env()
configure(settings.monitoring)
persistence = DynamoDBPersistenceLayer(
    table_name=settings.idempotency_table, boto3_client=clients.dynamodb_client(settings.aws_timeout)
)
processor = WebhookProcessor(
    persistence,
    # payment_failure, stripe_dispute and stripe_webhook_failure are counted against their rules here.
    alerts=AlertingService.from_settings(settings.alerting),
    monitor=PerformanceMonitor(settings.monitoring.slow_transaction_ms),
    expiry_seconds=settings.idempotency_expiry_seconds,
)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return processor.handle_batch(event, context)
