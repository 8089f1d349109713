"""Security events in: POST /api/events (EventsFunction) and the queue behind it (the processor).

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

Each accepted event is one message on the security events queue (so each is retried alone);
SecurityEventsProcessorFunction takes it from there: SecurityMonitor.record (windows, blocks,
metrics, alert, security log), then the `security_logs` row (INSERT IGNORE on event_id). When
MySQL is down the record fails and SQS retries it (then the DLQ, with an alarm); the DynamoDB
part recognises the redelivery, so nothing is counted twice and the row lands once MySQL answers.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.api import ApiError, parse_json, signed_json_text
from platform_monitoring.masking import mask_text
from platform_monitoring.observability import monitoring_log, security_log
from platform_monitoring.security import (
    EventValidationError,
    SecurityEvent,
    SecurityMonitor,
    event_from_message,
    masked_details,
    parse_event,
)
from platform_monitoring.stripe_webhooks import signing_secrets, verify_signature

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from mypy_boto3_sqs import SQSClient

    from platform_monitoring.settings import DatabaseSettings, EventsSettings

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


def track(event: Mapping[str, Any], queue: EventQueue | None = None) -> SecurityEvent:
    """The platform's own functions: `security_events.track({"type": "failed_login", "ip": ..., ...})`.

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
        from platform_monitoring import clients  # noqa: PLC0415
        from platform_monitoring.settings import SECURITY_EVENTS_QUEUE_URL, SecuritySettings  # noqa: PLC0415

        settings = SecuritySettings.from_env()
        if not settings.queue_url:
            raise RuntimeError(f"{SECURITY_EVENTS_QUEUE_URL} is not set")
        _queue = SqsSecurityQueue(clients.sqs_client(settings.aws_timeout), settings.queue_url)
    return _queue


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
        events, errors = self.validate(payload)
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

    def validate(self, payload: str) -> tuple[list[SecurityEvent], list[dict[str, Any]]]:
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
                events.append(parse_event(item, now=now))
            except EventValidationError as error:
                errors.append({"index": index, "field": error.field, "message": error.message})
        if errors:
            security_log.warning("Malformed security events refused", extra={"errors": errors[:20]})
        return events, errors


def raise_invalid(errors: list[dict[str, Any]]) -> None:
    raise InvalidEvents(errors)


class InvalidEvents(ApiError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0]
        super().__init__(
            400, "invalid_events", f"No valid event: event {first['index']}, field {first['field']}: {first['message']}"
        )
        self.errors = errors


# --- security_logs --------------------------------------------------------------------
class SecurityLogTable(Protocol):
    def insert(self, event: SecurityEvent) -> bool:
        """Write the row; False when it was already there. Raises when MySQL cannot take it."""
        ...


INSERT_SQL = (
    "INSERT IGNORE INTO security_logs "
    "(event_id, type, ip, user_id, company_id, user_agent, details, source, occurred_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def row(event: SecurityEvent) -> tuple[Any, ...]:
    details = json.dumps(masked_details(event), separators=(",", ":"), default=str)
    user_agent = mask_text(event.user_agent) if event.user_agent else None
    occurred = event.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return (
        event.id,
        event.type,
        event.ip,
        event.user_id,
        event.company_id,
        user_agent,
        details,
        event.source,
        occurred,
    )


class MySqlSecurityLog:
    """security_logs over one pymysql connection, reopened after any failure."""

    def __init__(self, settings: DatabaseSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self._connection: Any = None

    def insert(self, event: SecurityEvent) -> bool:
        from platform_monitoring import clients  # noqa: PLC0415

        try:
            if self._connection is None:
                self._connection = clients.mysql_connection(self.settings, self.timeout)
            with self._connection.cursor() as cursor:
                inserted = cursor.execute(INSERT_SQL, row(event))
            return bool(inserted)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already broken
                self._connection.close()
            self._connection = None


# --- the processor --------------------------------------------------------------------
class MalformedMessage(ValueError):
    """The message is not an event; retrying will not help (it goes to the DLQ after its retries)."""


class SecurityEventsProcessor:
    """SQS batches (or single EventBridge events) -> SecurityMonitor.record -> security_logs."""

    def __init__(self, monitor: SecurityMonitor, table: SecurityLogTable) -> None:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType  # noqa: PLC0415

        self.monitor = monitor
        self.table = table
        self.batch = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from aws_lambda_powertools.utilities.batch import process_partial_response  # noqa: PLC0415

        if "detail-type" in event:  # an EventBridge rule invoking the function directly
            self.process(json.dumps(event))
            return {"processed": 1}
        response = process_partial_response(
            event=event, record_handler=self.handle_record, processor=self.batch, context=context
        )
        return dict(response)

    def handle_record(self, record: SQSRecord) -> str:
        return self.process(record.body, record.message_id)

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
