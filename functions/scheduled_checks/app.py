"""ScheduledChecksFunction: every minute (EventBridge), the health checks, their gauges, the rules
that need a clock (error rate, database failures, queue backlogs, the absence rules), resolving what
cleared, escalating what nobody acknowledged, and the Watchdog heartbeat."""

from __future__ import annotations

from typing import Any

from platform_monitoring.core import clients
from platform_monitoring.core.config import load_settings
from platform_monitoring.health.checks import default_checks
from platform_monitoring.health.service import HealthCheckService
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.scheduled.checks import ScheduledChecks, http_totals, last_seen_times
from platform_monitoring.scheduled.settings import ScheduledChecksSettings
from platform_monitoring.scheduled.watchdog import Watchdog
from platform_monitoring.wiring.alerting import build_alerting_service, build_escalator

settings = load_settings(ScheduledChecksSettings.from_env)
configure(settings.health.monitoring)
checks = default_checks(settings.health)
alerting = build_alerting_service(settings.alerting)
scheduled = ScheduledChecks(
    HealthCheckService(checks, timeout=settings.health.check_timeout),
    alerting,
    recorder,
    database_probe=next((check for check in checks if check.name == "database"), None),
    metric_totals=lambda: http_totals(recorder.backend),
    escalator=build_escalator(settings.alerting, alerting),
    last_seen=lambda: last_seen_times(recorder.backend),
    time_zone=settings.alerting.time_zone,
    watchdog=Watchdog(settings.watchdog_url, recorder, timeout=settings.watchdog_timeout)
    if settings.watchdog_url
    else None,
)
clients.preload_health_clients()


class ScheduledChecksError(RuntimeError):
    """Alerting failed during the run (logged); raised so the function's Errors alarm sees it."""


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    run = scheduled.run(budget=remaining)
    result = run.to_dict()
    log = monitoring_log.info if run.health == "healthy" and not run.errors else monitoring_log.warning
    log(f"Scheduled checks: {run.health}", extra=result)
    if run.errors:
        raise ScheduledChecksError("; ".join(run.errors))
    return result
