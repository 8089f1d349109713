"""HealthFunction: GET /api/health, the guide's health checks behind X-Health-Check-Secret."""

from __future__ import annotations

from typing import Any

from platform_monitoring.api.auth import require_secret
from platform_monitoring.api.responses import create_resolver, json_response
from platform_monitoring.core.config import load_settings
from platform_monitoring.health.checks import default_checks, record_report
from platform_monitoring.health.service import HealthCheckService
from platform_monitoring.health.settings import HealthSettings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.wiring.events import report_failed_authentications

# Leave the function this much time to answer after the slowest check gives up.
RESPONSE_MARGIN_SECONDS = 0.5

settings = load_settings(HealthSettings.from_env)
configure(settings.monitoring)
service = HealthCheckService(default_checks(settings), timeout=settings.check_timeout)
app = create_resolver()
report_failed_authentications()  # a wrong secret or signature is a security event


@app.get("/api/health")
def health() -> Any:
    require_secret(app.current_event.headers, settings.secret, "X-Health-Check-Secret")
    remaining_ms = app.lambda_context.get_remaining_time_in_millis() if app.lambda_context else None
    budget = None if remaining_ms is None else remaining_ms / 1000 - RESPONSE_MARGIN_SECONDS
    report = service.run(budget=budget)
    record_report(report, recorder)
    body = report.to_dict()
    failing = [check for check in body["checks"] if check["status"] != "ok"]
    log = monitoring_log.info if not failing else monitoring_log.warning
    log(
        f"Health check: {report.status.value}",
        extra={"failing_checks": failing, "duration_ms": body["duration"]},
    )
    return json_response(report.http_status, body)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
