"""The process's metric recorder (Prometheus series in Redis) and the CloudWatch business metrics (EMF)."""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from platform_monitoring.core.clients import redis_client
from platform_monitoring.core.masking import mask_text
from platform_monitoring.core.settings import RedisSettings
from platform_monitoring.observability.logging import SERVICE_NAME, monitoring_log
from platform_monitoring.observability.store import MetricBackend, MetricRecorder, RedisMetricBackend

# A function that published no business metric this invocation is normal here.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


# CloudWatch metrics through EMF; namespace and service from POWERTOOLS_* variables.
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AskProAI")


metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


_store_settings: tuple[RedisSettings, float] | None = None


def use_store(settings: RedisSettings, timeout: float) -> None:
    """Where the recorder writes: set once at cold start (`configure`)."""
    global _store_settings  # noqa: PLW0603 - one store per process, set at cold start
    _store_settings = (settings, timeout)


def _redis_backend() -> MetricBackend:
    if _store_settings is None:
        raise ConnectionError("the metric store is not configured")
    redis_settings, timeout = _store_settings
    return RedisMetricBackend(redis_client(redis_settings, timeout))


def _metric_updates_dropped(count: int, error: BaseException, first: bool) -> None:
    metrics.add_metric(name="MetricUpdatesDropped", unit=MetricUnit.Count, value=count)
    if first:
        monitoring_log.warning(
            "Metric store unavailable; updates are dropped until it answers",
            extra={"dropped_updates": count, "error": mask_text(f"{type(error).__name__}: {error}")},
        )


# Prometheus series shared by every Lambda instance (Redis); see metric_store.
recorder = MetricRecorder(_redis_backend, on_dropped=_metric_updates_dropped)


METRICS_ROUTE = "/api/metrics"  # scrapes are not counted as traffic: they would dilute the error rate


# Business series that also go to CloudWatch (EMF), named for CloudWatch. Their labels
# become dimensions: a handful of values each (currency), never an ID.
CLOUDWATCH_BUSINESS_METRICS = {
    "subscriptions_created_total": "SubscriptionsCreated",
    "revenue_processed_cents": "RevenueProcessedCents",
    "portal_registrations_total": "PortalRegistrations",
    "portal_logins_total": "PortalLogins",
    "payment_failures_total": "PaymentFailures",
    "disputes_total": "Disputes",
    "refunds_total": "Refunds",
}


def count_business(name: str, value: float = 1.0, **labels: str) -> None:
    """A business event: the Prometheus counter (Redis) and the CloudWatch metric (EMF)."""
    recorder.inc(name, value, **labels)
    with single_metric(
        name=CLOUDWATCH_BUSINESS_METRICS[name], unit=MetricUnit.Count, value=value, namespace=METRICS_NAMESPACE
    ) as metric:
        for label, label_value in labels.items():
            metric.add_dimension(name=label, value=str(label_value))


def count_fail_open(name: str) -> None:
    """A failure answered by the documented fail-open choice (IpGuardFailOpen): one CloudWatch
    metric (EMF) written at once, since the authorizer flushes no per-invocation metrics."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=METRICS_NAMESPACE,
        default_dimensions={"service": SERVICE_NAME},
    ):
        pass
