"""The WebhookProcessor on the template's resources: the idempotency table, the AlertingService and the
card-testing window in Redis (the metric store's server). The queue's function and reconciliation
build it here, so both process an event the same way."""

from __future__ import annotations

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.core import clients
from platform_monitoring.observability.performance import PerformanceMonitor
from platform_monitoring.webhooks.card_testing import (
    CARD_TESTING,
    CardTestingDetector,
    RedisCardTestingWindow,
    Thresholds,
)
from platform_monitoring.webhooks.processor import WebhookProcessor
from platform_monitoring.webhooks.settings import WebhookProcessorSettings


def build_card_testing_detector(settings: WebhookProcessorSettings, alerting: AlertingService) -> CardTestingDetector:
    """The detector with card_testing_suspected's thresholds (the rule's params, overridable per stage)."""
    rule = alerting.rules[CARD_TESTING]
    monitoring = settings.monitoring
    window = RedisCardTestingWindow(clients.redis_client(monitoring.redis, monitoring.metrics_store_timeout))
    return CardTestingDetector(window, Thresholds.of(rule.window_seconds, rule.params), alerting)


def build_webhook_processor(
    settings: WebhookProcessorSettings, alerting: AlertingService, *, monitor: PerformanceMonitor | None = None
) -> WebhookProcessor:
    return WebhookProcessor(
        DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table, boto3_client=clients.dynamodb_client(settings.aws_timeout)
        ),
        # payment_failure, stripe_dispute, stripe_webhook_failure and card_testing_suspected count here.
        alerts=alerting,
        monitor=monitor,
        expiry_seconds=settings.idempotency_expiry_seconds,
        card_testing=build_card_testing_detector(settings, alerting),
    )
