"""Per-invocation observability for a Lambda handler (`instrument`) and cold-start setup (`configure`)."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from platform_monitoring.core.settings import MonitoringSettings
from platform_monitoring.observability.logging import (
    CORRELATION_HEADER,
    channels,
    correlation_id_from,
    request_metadata,
)
from platform_monitoring.observability.metrics import METRICS_ROUTE, metrics, recorder, use_store
from platform_monitoring.observability.sentry import init_sentry, invocation_transaction

LambdaHandler = Callable[[dict[str, Any], Any], Any]


def configure(settings: MonitoringSettings) -> None:
    """Cold-start setup: channel levels, Sentry and the metric store."""
    channels.set_levels(settings.log_levels)
    init_sentry(settings.sentry)
    use_store(settings.redis, settings.metrics_store_timeout)
    recorder.cap = settings.metrics_series_cap
    recorder.retry_after = settings.metrics_store_retry_after


def instrument(handler: LambdaHandler) -> LambdaHandler:
    """Per-invocation observability for a Lambda handler.

    Opens the invocation's Sentry transaction (when Sentry is on and sampling it); sets the
    correlation ID and request context on every channel; records the HTTP
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
        with invocation_transaction(*transaction_name(event, context)) as transaction:
            response = flushing_handler(event, context)
            if transaction is not None and isinstance(response, dict) and "statusCode" in response:
                transaction.set_http_status(int(response["statusCode"]))
        if isinstance(response, dict) and "statusCode" in response:
            _set_response_header(response, CORRELATION_HEADER, correlation_id)
        return response

    return wrapper


def transaction_name(event: Mapping[str, Any], context: Any) -> tuple[str, str]:
    """(name, source) of the invocation's Sentry transaction: `GET /api/health` (the route
    template, as the metrics use) for an API request, else the function's name."""
    route = event.get("resource") if "httpMethod" in event else None
    if isinstance(route, str):
        return f"{str(event.get('httpMethod', '')).upper()} {route}", "route"
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or getattr(context, "function_name", None) or "local"
    return str(function), "component"


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
