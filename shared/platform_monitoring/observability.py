"""The one place that creates loggers, metrics and Sentry; everything else imports from here.

Log channels are the guide's six (monitoring, security, performance, stripe, portal,
webhooks), each a Powertools Logger with its own LOG_LEVEL_<CHANNEL>, writing JSON lines
with `channel`, the correlation ID, the Lambda context, request metadata and user/company
context when present. Every record passes through the masking formatter.
"""

from __future__ import annotations

import functools
import os
import re
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

from platform_monitoring.masking import mask, mask_text, sentry_before_send
from platform_monitoring.metric_store import MetricBackend, MetricRecorder, RedisMetricBackend
from platform_monitoring.settings import LOG_CHANNELS, MonitoringSettings, RedisSettings, SentrySettings

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "askproai-monitoring")
CORRELATION_HEADER = "X-Correlation-ID"
_SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with the bundle's masking applied to the whole record."""

    def serialize(self, log: Mapping[str, Any]) -> str:
        # A lone surrogate (from a client's JSON "\udc80") cannot be written to a UTF-8 stdout:
        # the line would be lost and logging's error report would print the unmasked message.
        return super().serialize(mask(log)).encode("utf-8", "backslashreplace").decode("utf-8")


class ChannelLoggers:
    """The six log channels; context keys are appended to all of them at once."""

    def __init__(self, channels: tuple[str, ...] = LOG_CHANNELS) -> None:
        self._loggers: dict[str, Logger] = {}
        for channel in channels:
            # The Python logger is named after the channel (no dots, so no parent that would
            # print a record twice); the JSON `service` stays the bundle's own name.
            logger = Logger(service=f"channel-{channel}", logger_formatter=MaskingFormatter(), level="INFO")
            logger.append_keys(service=SERVICE_NAME, channel=channel)
            self._loggers[channel] = logger
        self._invocation_keys: set[str] = set()

    def __getitem__(self, channel: str) -> Logger:
        return self._loggers[channel]

    def set_levels(self, levels: Mapping[str, str]) -> None:
        for channel, level in levels.items():
            if channel in self._loggers:
                self._loggers[channel].setLevel(level.upper())

    def append_keys(self, **keys: Any) -> None:
        """Keys for the current invocation only; begin_invocation() removes them."""
        present = {k: v for k, v in keys.items() if v not in (None, "")}
        for logger in self._loggers.values():
            logger.append_keys(**present)
        self._invocation_keys.update(present)

    def begin_invocation(self) -> None:
        if self._invocation_keys:
            for logger in self._loggers.values():
                logger.remove_keys(list(self._invocation_keys))
            self._invocation_keys.clear()


channels = ChannelLoggers()
monitoring_log = channels["monitoring"]
security_log = channels["security"]
performance_log = channels["performance"]
stripe_log = channels["stripe"]
portal_log = channels["portal"]
webhooks_log = channels["webhooks"]

# A function that published no business metric this invocation is normal here.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# CloudWatch metrics through EMF; namespace and service from POWERTOOLS_* variables.
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AskProAI")
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)

_sentry_started = False
_store_settings: tuple[RedisSettings, float] | None = None


def _redis_backend() -> MetricBackend:
    if _store_settings is None:
        raise ConnectionError("the metric store is not configured")
    from platform_monitoring.clients import redis_client  # noqa: PLC0415

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


def configure(settings: MonitoringSettings) -> None:
    """Cold-start setup: channel levels, Sentry and the metric store."""
    global _store_settings  # noqa: PLW0603 - one store per process, set at cold start
    channels.set_levels(settings.log_levels)
    init_sentry(settings.sentry)
    _store_settings = (settings.redis, settings.metrics_store_timeout)
    recorder.cap = settings.metrics_series_cap
    recorder.retry_after = settings.metrics_store_retry_after


def init_sentry(settings: SentrySettings) -> bool:
    """Start Sentry when a DSN is configured. Without one, sentry_sdk is never imported."""
    global _sentry_started  # noqa: PLW0603 - one Sentry client per process
    if _sentry_started or not settings.dsn.configured:
        return _sentry_started
    import sentry_sdk  # noqa: PLC0415 - only paid for when Sentry is on
    from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration  # noqa: PLC0415

    sentry_sdk.init(
        dsn=settings.dsn.reveal(),
        environment=settings.environment,
        traces_sample_rate=settings.traces_sample_rate,
        profiles_sample_rate=settings.profiles_sample_rate,
        integrations=[AwsLambdaIntegration(timeout_warning=True)],
        send_default_pii=False,
        before_send=sentry_before_send,  # type: ignore[arg-type]
        before_send_transaction=sentry_before_send,  # type: ignore[arg-type]
    )
    _sentry_started = True
    return True


# --- correlation and request context --------------------------------------------------
def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered and isinstance(value, str):
            return value
    return None


def correlation_id_from(event: Mapping[str, Any]) -> str:
    """X-Correlation-ID header, else API Gateway's request ID, else the event's own ID."""
    incoming = _header(event.get("headers"), CORRELATION_HEADER)
    # A client-chosen ID is echoed and logged, so only a plain token is accepted.
    if incoming and _SAFE_CORRELATION_ID.match(incoming):
        return incoming
    request_context = event.get("requestContext") or {}
    if isinstance(request_context, Mapping) and request_context.get("requestId"):
        return str(request_context["requestId"])
    if event.get("id"):  # EventBridge
        return str(event["id"])
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        record = records[0]
        message_id = record.get("messageId") or (record.get("Sns") or {}).get("MessageId")
        if message_id:
            return str(message_id)
    return str(uuid.uuid4())


def request_metadata(event: Mapping[str, Any]) -> dict[str, Any]:
    """Request metadata and the user/company context an authorizer put on the request."""
    request_context = event.get("requestContext")
    if not isinstance(request_context, Mapping) or "httpMethod" not in event:
        return {}
    identity = request_context.get("identity") or {}
    authorizer = request_context.get("authorizer") or {}
    claims = authorizer.get("claims") or {}
    return {
        "http_method": event.get("httpMethod"),
        "path": event.get("path"),
        "route": event.get("resource"),
        "source_ip": identity.get("sourceIp"),
        "user_agent": _header(event.get("headers"), "User-Agent"),
        "request_id": request_context.get("requestId"),
        "user_id": authorizer.get("user_id") or claims.get("sub"),
        "company_id": authorizer.get("company_id") or claims.get("custom:company_id"),
    }


def bind_user(user_id: str | int | None, company_id: str | int | None = None) -> None:
    """User/company context for the rest of this invocation's log lines."""
    channels.append_keys(user_id=user_id, company_id=company_id)


def instrument(handler: LambdaHandler) -> LambdaHandler:
    """Per-invocation observability for a Lambda handler.

    Sets the correlation ID and request context on every channel; records the HTTP
    metrics of API requests and the process memory; writes the invocation's Prometheus
    updates in one round trip and flushes CloudWatch metrics; echoes the correlation ID
    on API responses.
    """
    cold_start = True

    def handle_and_record(event: dict[str, Any], context: Any) -> Any:
        started = time.perf_counter()
        status = 500
        try:
            response = handler(event, context)
            if isinstance(response, dict):
                status = int(response.get("statusCode", 200))
            return response
        finally:
            record_invocation(event, context, status, (time.perf_counter() - started) * 1000)
            recorder.flush()

    flushing_handler = metrics.log_metrics(handle_and_record, raise_on_empty_metrics=False)

    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> Any:
        nonlocal cold_start
        channels.begin_invocation()
        correlation_id = correlation_id_from(event)
        channels.append_keys(
            correlation_id=correlation_id,
            cold_start=cold_start,
            function_name=getattr(context, "function_name", None),
            function_request_id=getattr(context, "aws_request_id", None),
            **request_metadata(event),
        )
        cold_start = False
        response = flushing_handler(event, context)
        if isinstance(response, dict) and "statusCode" in response:
            _set_response_header(response, CORRELATION_HEADER, correlation_id)
        return response

    return wrapper


def record_invocation(event: Mapping[str, Any], context: Any, status: int, duration_ms: float) -> None:
    """HTTP series for an API request (route template, not raw path, to bound cardinality) and memory."""
    route = event.get("resource") if "httpMethod" in event else None
    if isinstance(route, str) and route != METRICS_ROUTE:
        method = str(event.get("httpMethod", "")).upper()
        recorder.inc("http_requests_total", route=route, method=method, status=status)
        recorder.observe("http_request_duration_ms", duration_ms, route=route, method=method)
        if status >= 500:
            recorder.inc("http_requests_errors_total", route=route, method=method, status=status)
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or getattr(context, "function_name", None) or "local"
    usage, peak = process_memory()
    recorder.set("php_memory_usage_bytes", usage, function=function)
    recorder.set("php_memory_peak_bytes", peak, function=function)


def process_memory() -> tuple[int, int]:
    """(current, peak) resident memory of this process in bytes."""
    import resource  # noqa: PLC0415

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    try:
        with open("/proc/self/statm") as statm:  # noqa: PTH123 - hot path, one read
            current = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        current = peak
    # The two are sampled by different means; the peak is never below what is in use now.
    return current, max(peak, current)


def _set_response_header(response: dict[str, Any], name: str, value: str) -> None:
    multi = response.get("multiValueHeaders")
    if isinstance(multi, dict):
        multi[name] = [value]
    else:
        headers = response.setdefault("headers", {})
        headers[name] = value
