"""The security events processor: each queued event into security_logs and the monitor, once."""

from __future__ import annotations

import json
from typing import Any

from platform_monitoring.core.masking import mask_text
from platform_monitoring.core.sqs_batch import SqsBatch
from platform_monitoring.observability.logging import security_log
from platform_monitoring.security.events import (
    EventValidationError,
    event_from_message,
)
from platform_monitoring.security.monitor import SecurityMonitor
from platform_monitoring.security.security_logs import SecurityLogTable


# --- the processor --------------------------------------------------------------------
class MalformedMessage(ValueError):
    """The message is not an event; retrying will not help (it goes to the DLQ after its retries)."""


class SecurityEventsProcessor:
    """SQS batches (or single EventBridge events) -> SecurityMonitor.record -> security_logs."""

    def __init__(self, monitor: SecurityMonitor, table: SecurityLogTable) -> None:
        self.monitor = monitor
        self.table = table
        self.batch = SqsBatch(self.process)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if "detail-type" in event:  # an EventBridge rule invoking the function directly
            self.process(json.dumps(event))
            return {"processed": 1}
        return self.batch.process(event, context)

    def process(self, body: str, message_id: str | None = None) -> str:
        try:
            event = event_from_message(body)
        except (ValueError, EventValidationError) as error:
            security_log.error(
                "Malformed security event message", extra={"message_id": message_id, "error": mask_text(str(error))}
            )
            raise MalformedMessage(str(error)) from None
        self.monitor.record(event)
        try:
            inserted = self.table.insert(event)
        except Exception as error:
            security_log.error(
                "Could not write security_logs; the event is retried",
                extra={
                    "event_id": event.id,
                    "message_id": message_id,
                    "error": mask_text(f"{type(error).__name__}: {error}")[:300],
                },
            )
            raise
        return "stored" if inserted else "duplicate"
