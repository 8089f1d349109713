"""HealthFunction: GET /api/health, /api/health/ready and /api/health/live behind X-Health-Check-Secret."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from platform_monitoring.api.auth import require_secret
from platform_monitoring.api.responses import create_resolver, json_response
from platform_monitoring.core.config import load_settings
from platform_monitoring.health.checks import DEPENDENCY_CHECKS, default_checks, record_report
from platform_monitoring.health.formats import HEALTH_JSON, health_json, liveness, prefers_health_json
from platform_monitoring.health.service import HealthCheckService, HealthReport
from platform_monitoring.health.settings import HealthSettings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.wiring.refusals import report_failed_authentications

# Leave the function this much time to answer after the slowest check gives up.
RESPONSE_MARGIN_SECONDS = 0.5
HEALTH_HEADER = "X-Health-Check-Secret"  # the header name, not a secret

settings = load_settings(HealthSettings.from_env)
configure(settings.monitoring)
service = HealthCheckService(default_checks(settings), timeout=settings.check_timeout)
app = create_resolver()
report_failed_authentications()  # a wrong secret or signature is a security event
started = time.monotonic()


def _answer(status: int, plain: dict[str, Any], draft: dict[str, Any]) -> Any:
    """The guide's JSON, or the draft's application/health+json when Accept prefers it."""
    vary = {"Vary": "Accept"}
    if prefers_health_json(app.current_event.headers.get("accept")):
        return json_response(status, draft, {**vary, "Content-Type": HEALTH_JSON})
    return json_response(status, plain, vary)


def _run(checks: HealthCheckService, what: str) -> Any:
    require_secret(app.current_event.headers, settings.secret, HEALTH_HEADER)
    remaining_ms = app.lambda_context.get_remaining_time_in_millis() if app.lambda_context else None
    budget = None if remaining_ms is None else remaining_ms / 1000 - RESPONSE_MARGIN_SECONDS
    report: HealthReport = checks.run(budget=budget)
    record_report(report, recorder)
    body = report.to_dict()
    failing = [check for check in body["checks"] if check["status"] != "ok"]
    log = monitoring_log.info if not failing else monitoring_log.warning
    log(f"{what}: {report.status.value}", extra={"failing_checks": failing, "duration_ms": body["duration"]})
    return _answer(report.http_status, body, health_json(report))


@app.get("/api/health")
def health() -> Any:
    return _run(service, "Health check")


@app.get("/api/health/ready")
def ready() -> Any:
    # Readiness: the dependencies only (database, Redis, Stripe, the queues), same statuses.
    return _run(service.only(DEPENDENCY_CHECKS), "Readiness check")


@app.get("/api/health/live")
def live() -> Any:
    # Liveness: this code runs and answers; it calls no dependency, so a Redis, MySQL or Stripe
    # outage never makes it fail. The secret is the same as /api/health's (docs: README, "Health").
    require_secret(app.current_event.headers, settings.secret, HEALTH_HEADER)
    plain, draft = liveness(time.monotonic() - started, datetime.now(UTC))
    return _answer(200, plain, draft)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
