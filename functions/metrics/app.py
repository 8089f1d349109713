"""MetricsFunction: GET /api/metrics, the shared metric store in Prometheus' formats."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from platform_monitoring.api.auth import require_secret
from platform_monitoring.api.responses import ApiError, create_resolver
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.exposition import render
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.observability.settings import MetricsSettings
from platform_monitoring.wiring.refusals import report_failed_authentications
from redis.exceptions import RedisError

settings = load_settings(MetricsSettings.from_env)
configure(settings.monitoring)
app = create_resolver()
report_failed_authentications()  # a wrong secret or signature is a security event


@app.get("/api/metrics")
def scrape() -> Response[str]:
    headers = app.current_event.headers
    require_secret(headers, settings.secret, "X-Metrics-Secret", accept_bearer=True)
    try:
        body, content_type = render(recorder.backend, headers.get("Accept"))
    except (RedisError, OSError) as error:  # an outage; anything else is a bug and answers 500
        recorder.pause()  # this invocation's own flush would only wait for the same timeout
        monitoring_log.warning("Metric store unavailable for a scrape", extra={"error": type(error).__name__})
        raise ApiError(503, "metric_store_unavailable", "The metric store is not answering") from None
    return Response(status_code=200, content_type=content_type, body=body, headers={"Cache-Control": "no-store"})


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
