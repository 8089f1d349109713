"""Security events in: POST /api/events (EventsFunction) onto the queue; processor.py takes them from there.

POST /api/events, checks cheapest refusal first, every refusal JSON that echoes nothing sent:
  503 not_configured / secret_unavailable / queue_unavailable
  413 payload_too_large     415 unsupported_media_type
  400 missing_signature / malformed_signature / invalid_signature / signature_expired
      (`X-Monitoring-Signature: t=<unix>,v1=<hex>`: Stripe's scheme keyed with EVENTS_SECRET, checked
      by the Stripe library's own verify_header, several v1 values allowed, 300 s window)
  400 invalid_json / invalid_request (not {"events": [...]}, empty, over MAX_EVENTS)
  400 invalid_events        every event is malformed: `errors` names each event's index and field
  202 {"accepted": n, "event_ids": [...], "errors": [...]}   the valid events are queued; the
      malformed ones are listed in `errors` (index, field, message) and the rest still lands.

An event without an `id` is named from the signed request (events.signed_event_id: the signature's
timestamp, the body's SHA-256 and the event's index), so a replay inside the tolerance window is the
same events again and counts once; docs/security.md, "Replays".

Each accepted event is one message on the security events queue (so each is retried alone);
SecurityEventsProcessorFunction takes it from there: SecurityMonitor.record (windows, blocks,
metrics, alert, security log), then the `security_logs` row (INSERT IGNORE on event_id). When
MySQL is down the record fails and SQS retries it (then the DLQ, with an alarm); the DynamoDB
part recognises the redelivery, so nothing is counted twice and the row lands once MySQL answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.api.bodies import parse_json, signed_json_text
from platform_monitoring.api.responses import ApiError
from platform_monitoring.api.signatures import signing_secrets, verify_signature
from platform_monitoring.observability.logging import monitoring_log, security_log
from platform_monitoring.security.events import (
    EventValidationError,
    SecurityEvent,
    parse_event,
    signed_event_id,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from platform_monitoring.security.settings import EventsSettings


SIGNATURE_HEADER = "X-Monitoring-Signature"
MAX_EVENTS = 100


# --- the queue ------------------------------------------------------------------------
class EventQueue(Protocol):
    def send_events(self, events: Sequence[SecurityEvent]) -> list[str]:
        """Queue the events; returns the IDs of those that could NOT be queued."""
        ...


class SqsSecurityQueue:
    """The security events queue: SendMessageBatch, ten events a call."""

    def __init__(self, client: SQSClient, url: str) -> None:
        self._client = client
        self.url = url

    def send_events(self, events: Sequence[SecurityEvent]) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(events), 10):
            chunk = events[start : start + 10]
            entries = [
                {"Id": str(index), "MessageBody": json.dumps(event.to_json(), separators=(",", ":"), default=str)}
                for index, event in enumerate(chunk)
            ]
            response = self._client.send_message_batch(QueueUrl=self.url, Entries=entries)  # type: ignore[arg-type]
            failed += [chunk[int(entry["Id"])].id for entry in response.get("Failed", [])]
        return failed


# --- POST /api/events -----------------------------------------------------------------
class EventsIngest:
    def __init__(self, settings: EventsSettings, queue: EventQueue | None) -> None:
        self.settings = settings
        self.queue = queue

    def receive(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        secrets = signing_secrets(self.settings.secret, security_log)  # comma-separated for rotation
        if self.queue is None:
            raise ApiError(503, "not_configured", "SECURITY_EVENTS_QUEUE_URL is not configured; the endpoint is closed")
        payload = signed_json_text(headers, body, self.settings.max_bytes)
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
        try:
            verify_signature(payload, header, secrets, self.settings.tolerance_seconds, header_name=SIGNATURE_HEADER)
        except ApiError as refused:
            security_log.warning("Security events refused", extra={"reason": refused.code, "body_bytes": len(body)})
            raise
        events, errors = self.validate(payload, signed_at=signature_timestamp(header))
        if not events:
            raise_invalid(errors)
        failed = set(self.queue.send_events(events))
        if failed:
            monitoring_log.error("Security events could not be queued", extra={"failed": len(failed)})
        if failed and len(failed) == len(events):
            raise ApiError(503, "queue_unavailable", "The events could not be queued; retry later")
        accepted = [event for event in events if event.id not in failed]
        answer: dict[str, Any] = {
            "accepted": len(accepted),
            "event_ids": [event.id for event in accepted],
            "errors": errors,
        }
        if failed:
            answer["not_queued"] = sorted(failed)  # retry these (their IDs make the retry idempotent)
        return 202, answer

    def validate(self, payload: str, signed_at: str = "") -> tuple[list[SecurityEvent], list[dict[str, Any]]]:
        try:
            data = parse_json(payload)
        except ValueError:
            raise ApiError(400, "invalid_json", "The body is not valid JSON") from None
        items = data.get("events") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            raise ApiError(400, "invalid_request", 'The body must be {"events": [...]} with at least one event')
        if len(items) > MAX_EVENTS:
            raise ApiError(400, "invalid_request", f"At most {MAX_EVENTS} events per request")
        now = time.time()
        events: list[SecurityEvent] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                events.append(parse_event(item, now=now, default_id=signed_event_id(signed_at, payload, index)))
            except EventValidationError as error:
                errors.append({"index": index, "field": error.field, "message": error.message})
        if errors:
            security_log.warning("Malformed security events refused", extra={"errors": errors[:20]})
        return events, errors


def signature_timestamp(header: str | None) -> str:
    """The `t=` of a verified X-Monitoring-Signature header."""
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            return value
    return ""


def raise_invalid(errors: list[dict[str, Any]]) -> None:
    raise InvalidEvents(errors)


class InvalidEvents(ApiError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0]
        super().__init__(
            400, "invalid_events", f"No valid event: event {first['index']}, field {first['field']}: {first['message']}"
        )
        self.errors = errors
