"""The process-wide security events queue: `track()` for the platform's functions.

from platform_monitoring.wiring.events import track
track({"type": "failed_login", "ip": request_ip, "user_id": user.id})
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from platform_monitoring.core import clients
from platform_monitoring.security.events import SecurityEvent, parse_event
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
