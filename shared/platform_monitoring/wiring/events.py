"""The process-wide security events queue: `track()` for the platform's functions.

from platform_monitoring.wiring.events import track
track({"type": "failed_login", "ip": request_ip, "user_id": user.id})

and the reporter of the API functions' refused secrets and signatures, queued the same way
(registered at cold start by wiring/refusals.py, built at the first refusal).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from platform_monitoring.core import clients
from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.metrics import metrics
from platform_monitoring.security.events import FAILED_AUTHENTICATION, SecurityEvent, parse_event
from platform_monitoring.security.ingest import EventQueue, SqsSecurityQueue
from platform_monitoring.security.settings import SECURITY_EVENTS_QUEUE_URL, SecuritySettings


def track(event: Mapping[str, Any], queue: EventQueue | None = None) -> SecurityEvent:
    """The platform's own functions: `track({"type": "failed_login", "ip": ..., ...})`.

    The event is validated here (EventValidationError names the field) and queued like a POSTed
    one, so it reaches security_logs even while MySQL is down. `occurred_at` defaults to now.
    """
    data = dict(event)
    data.setdefault("occurred_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    parsed = parse_event(data, source="library")
    target = queue or _default_queue()
    if target.send_events([parsed]):
        raise RuntimeError("the security event could not be queued")
    return parsed


_queue: EventQueue | None = None


def _default_queue() -> EventQueue:
    global _queue  # noqa: PLW0603 - one client per Lambda instance
    if _queue is None:
        settings = SecuritySettings.from_env()
        if not settings.queue_url:
            raise RuntimeError(f"{SECURITY_EVENTS_QUEUE_URL} is not set")
        _queue = SqsSecurityQueue(clients.sqs_client(settings.aws_timeout), settings.queue_url)
    return _queue


# The refused request waits for this, so it is short: one attempt, 0.25 s to connect and to read
# (at most 0.5 s; a few ms when SQS answers). A report that does not make it is logged and counted
# (FailedAuthenticationsNotReported), never retried into the refusal.
REFUSAL_REPORT_TIMEOUT_SECONDS = 0.25


def failed_authentication_event(event: Mapping[str, Any], code: str) -> dict[str, Any] | None:
    """The security event of a refused credential: API Gateway's own source address (never
    X-Forwarded-For, which the caller writes), the route and the refusal's code; None without an address."""
    context = event.get("requestContext") or {}
    ip = str((context.get("identity") or {}).get("sourceIp") or "")
    if not ip:
        return None
    return {
        "type": FAILED_AUTHENTICATION,
        "ip": ip,
        "user_agent": (context.get("identity") or {}).get("userAgent"),
        "details": {
            "route": str(event.get("resource") or event.get("path") or "")[:200],
            "method": str(event.get("httpMethod") or "")[:10],
            "reason": code,
        },
    }


class FailedAuthenticationReporter:
    """Queues one failed_authentication event per refused credential (api/refusals.py), synchronously
    with a short timeout: a background thread would be frozen with the Lambda once it answers."""

    def __init__(self, queue: EventQueue) -> None:
        self.queue = queue

    def __call__(self, event: Mapping[str, Any], code: str) -> None:
        data = failed_authentication_event(event, code)
        if data is None:
            return
        try:
            track(data, self.queue)
        except Exception as error:
            metrics.add_metric(name="FailedAuthenticationsNotReported", unit=MetricUnit.Count, value=1)
            monitoring_log.warning(
                "Failed authentication not queued", extra={"error": mask_text(f"{type(error).__name__}: {error}")[:200]}
            )


_reporter: FailedAuthenticationReporter | None = None
_unconfigured_said = False


def failed_authentication_reporter(settings: SecuritySettings | None = None) -> FailedAuthenticationReporter | None:
    """The process's reporter of refused credentials (wiring/refusals.py asks for it at the first
    refusal). Without SECURITY_EVENTS_QUEUE_URL there is none (and that is logged once)."""
    global _reporter, _unconfigured_said  # noqa: PLW0603 - one reporter (and SQS client) per Lambda instance
    if _reporter is None:
        settings = settings or SecuritySettings.from_env()
        if not settings.queue_url:
            if not _unconfigured_said:
                monitoring_log.warning(
                    f"{SECURITY_EVENTS_QUEUE_URL} is not set: failed authentications are not counted"
                )
                _unconfigured_said = True
            return None
        # Built at the first refusal (wiring/refusals.py), which sends at once: the client is built here.
        client = clients.sqs_client(REFUSAL_REPORT_TIMEOUT_SECONDS)
        _reporter = FailedAuthenticationReporter(SqsSecurityQueue(client, settings.queue_url))
    return _reporter
