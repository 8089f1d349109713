"""The Stripe webhook functions' settings: signature tolerance, body limit, queue and idempotency table."""

from __future__ import annotations

from dataclasses import dataclass

from platform_monitoring.core.config import EnvSource, env_reader
from platform_monitoring.core.settings import (
    WEBHOOK_MAX_BYTES_LIMIT,
    WEBHOOKS_QUEUE_URL,
    MonitoringSettings,
    StripeSettings,
)

STRIPE_WEBHOOK_TOLERANCE_SECONDS = "STRIPE_WEBHOOK_TOLERANCE_SECONDS"
STRIPE_WEBHOOK_MAX_BYTES = "STRIPE_WEBHOOK_MAX_BYTES"
WEBHOOK_AWS_TIMEOUT_SECONDS = "WEBHOOK_AWS_TIMEOUT_SECONDS"
IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
IDEMPOTENCY_EXPIRY_SECONDS = "IDEMPOTENCY_EXPIRY_SECONDS"
IDEMPOTENCY_EXPIRY_DEFAULT = 30 * 24 * 3600  # Stripe can resend an event for 30 days


@dataclass(frozen=True)
class StripeWebhookSettings:
    """StripeWebhookFunction: verify the signature, enqueue, answer."""

    monitoring: MonitoringSettings
    stripe: StripeSettings
    queue_url: str | None
    tolerance_seconds: int
    max_bytes: int
    aws_timeout: float

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> StripeWebhookSettings:
        env = env_reader(environ)
        return cls(
            monitoring=MonitoringSettings.from_env(env),
            stripe=StripeSettings.from_env(env),
            queue_url=env.url(
                WEBHOOKS_QUEUE_URL,
                doc="the webhooks queue (its depth in the health check; where StripeWebhookFunction queues events)",
            ),
            tolerance_seconds=env.integer(
                STRIPE_WEBHOOK_TOLERANCE_SECONDS, 300, 1, 86_400, doc="age of a Stripe signature accepted"
            ),
            max_bytes=env.integer(
                STRIPE_WEBHOOK_MAX_BYTES,
                WEBHOOK_MAX_BYTES_LIMIT,
                1,
                WEBHOOK_MAX_BYTES_LIMIT,
                doc="largest webhook body (an SQS message holds 256 KiB)",
            ),
            aws_timeout=env.number(
                WEBHOOK_AWS_TIMEOUT_SECONDS,
                1.5,
                0.1,
                25.0,
                doc="timeout of the webhook functions' SQS and DynamoDB calls",
            ),
        )


@dataclass(frozen=True)
class WebhookProcessorSettings:
    """WebhookProcessorFunction: idempotency table and how long an event ID is remembered (its alerting
    settings are alerting's own, read beside these by the function)."""

    monitoring: MonitoringSettings
    idempotency_table: str
    idempotency_expiry_seconds: int
    aws_timeout: float

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> WebhookProcessorSettings:
        env = env_reader(environ)
        monitoring = MonitoringSettings.from_env(env)
        return cls(
            monitoring=monitoring,
            idempotency_table=env.required(
                IDEMPOTENCY_TABLE, doc="DynamoDB table of processed Stripe event IDs (Powertools idempotency)"
            ),
            idempotency_expiry_seconds=env.integer(
                IDEMPOTENCY_EXPIRY_SECONDS,
                IDEMPOTENCY_EXPIRY_DEFAULT,
                3600,
                doc="how long a processed Stripe event ID is remembered (30 days)",
            ),
            aws_timeout=env.number(
                WEBHOOK_AWS_TIMEOUT_SECONDS,
                1.5,
                0.1,
                25.0,
                doc="timeout of the webhook functions' SQS and DynamoDB calls",
            ),
        )


STRIPE_RECONCILIATION_TABLE = "STRIPE_RECONCILIATION_TABLE"
STRIPE_RECONCILE_OVERLAP_SECONDS = "STRIPE_RECONCILE_OVERLAP_SECONDS"
STRIPE_RECONCILE_SETTLE_SECONDS = "STRIPE_RECONCILE_SETTLE_SECONDS"
STRIPE_RECONCILE_TYPES = "STRIPE_RECONCILE_TYPES"
STRIPE_API_TIMEOUT_SECONDS = "STRIPE_API_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class ReconciliationSettings:
    """StripeReconciliationFunction (and `monitoring-test --stripe-reconcile`): the checkpoint table,
    the window's overlap and settle time, the event types listed; the processor's own settings beside."""

    processor: WebhookProcessorSettings
    stripe: StripeSettings
    checkpoint_table: str
    overlap_seconds: int
    settle_seconds: int
    event_types: tuple[str, ...]
    stripe_timeout: float

    @classmethod
    def from_env(cls, environ: EnvSource = None) -> ReconciliationSettings:
        from platform_monitoring.webhooks.processor import HANDLERS  # noqa: PLC0415 - settings stay light

        env = env_reader(environ)
        types = tuple(
            t.strip()
            for t in (
                env.string(
                    STRIPE_RECONCILE_TYPES,
                    doc="event types reconciled, comma-separated; unset: every type the processor handles",
                )
                or ""
            ).split(",")
            if t.strip()
        )
        return cls(
            processor=WebhookProcessorSettings.from_env(env),
            stripe=StripeSettings.from_env(env),
            checkpoint_table=env.required(
                STRIPE_RECONCILIATION_TABLE, doc="DynamoDB table of reconciliation's checkpoint and lease"
            ),
            overlap_seconds=env.integer(
                STRIPE_RECONCILE_OVERLAP_SECONDS,
                300,
                0,
                86_400,
                doc="reconciliation re-reads this long before its checkpoint (clock skew)",
            ),
            settle_seconds=env.integer(
                STRIPE_RECONCILE_SETTLE_SECONDS,
                120,
                0,
                3600,
                doc="events younger than this are left to their webhooks in flight",
            ),
            event_types=types or tuple(HANDLERS),
            stripe_timeout=env.number(
                STRIPE_API_TIMEOUT_SECONDS, 10.0, 1.0, 60.0, doc="Stripe API timeout of reconciliation"
            ),
        )
