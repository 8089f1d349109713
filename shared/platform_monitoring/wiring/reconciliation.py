"""The Stripe reconciler on the template's tables: the same WebhookProcessor (idempotency table) as the
queue, the checkpoint table, Stripe's Events API and the AlertingService."""

from __future__ import annotations

from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.core import clients
from platform_monitoring.webhooks.reconciliation import DynamoCheckpointStore, Reconciler, StripeEventSource
from platform_monitoring.webhooks.settings import ReconciliationSettings
from platform_monitoring.wiring.alerting import build_alerting_service
from platform_monitoring.wiring.webhooks import build_webhook_processor


def build_reconciler(settings: ReconciliationSettings, alerting: AlertingSettings) -> Reconciler:
    processor_settings = settings.processor
    dynamodb = clients.dynamodb_client(processor_settings.aws_timeout)
    processor = build_webhook_processor(processor_settings, build_alerting_service(alerting))
    return Reconciler(
        StripeEventSource(clients.stripe_client(settings.stripe, settings.stripe_timeout)),
        processor,
        DynamoCheckpointStore(dynamodb, settings.checkpoint_table),
        event_types=settings.event_types,
        overlap_seconds=settings.overlap_seconds,
        settle_seconds=settings.settle_seconds,
    )
