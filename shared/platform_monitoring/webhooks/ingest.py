"""StripeWebhookFunction's logic: verify Stripe's signature, put the event on the webhooks queue, answer.

Nothing is processed here: Stripe waits for the answer (and retries on a slow or non-2xx one),
so the endpoint only proves the event is Stripe's and hands it to SQS. WebhookProcessorFunction
does the rest (webhooks/processor.py).

Order of the checks, cheapest refusal first; every refusal is JSON that echoes nothing sent:
  503 not_configured / secret_unavailable   STRIPE_WEBHOOK_SECRET (or the queue) is missing: fail closed
  413 payload_too_large                     the body is over STRIPE_WEBHOOK_MAX_BYTES
  415 unsupported_media_type                the Content-Type is not application/json
  400 missing_signature / malformed_signature / invalid_signature / signature_expired
  400 invalid_event                         signed, but not a Stripe event (no evt_ id or type)
  503 queue_unavailable                     SQS did not take it: Stripe retries later
  200 {"received": true}                    queued
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.api.bodies import parse_json, signed_json_text
from platform_monitoring.api.responses import ApiError
from platform_monitoring.api.signatures import STRIPE_SIGNATURE_HEADER, signing_secrets, verify_signature
from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import webhooks_log
from platform_monitoring.webhooks.settings import StripeWebhookSettings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

SIGNATURE_HEADER = STRIPE_SIGNATURE_HEADER


# SQS message attributes the processor reads (the body is Stripe's payload, byte for byte).
ATTRIBUTE_EVENT_ID = "stripe_event_id"
ATTRIBUTE_EVENT_TYPE = "stripe_event_type"
ATTRIBUTE_CORRELATION_ID = "correlation_id"


@dataclass(frozen=True)
class VerifiedEvent:
    id: str
    type: str
    livemode: bool | None
    payload: str  # exactly what Stripe signed


def parse_event(payload: str) -> VerifiedEvent:
    try:
        data = parse_json(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_event", "The body is not a JSON object")
    event_id, event_type = data.get("id"), data.get("type")
    if not (isinstance(event_id, str) and event_id.startswith("evt_") and isinstance(event_type, str) and event_type):
        raise ApiError(400, "invalid_event", "The body is not a Stripe event (no evt_ id or no type)")
    livemode = data.get("livemode")
    return VerifiedEvent(event_id, event_type, livemode if isinstance(livemode, bool) else None, payload)


class EventQueue(Protocol):
    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        """Put one message on the queue; returns its message ID. Raises when the queue did not take it."""
        ...


class SqsEventQueue:
    """The webhooks queue: one SendMessage per event."""

    def __init__(self, client: SQSClient, url: str) -> None:
        self._client = client
        self.url = url

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        response = self._client.send_message(
            QueueUrl=self.url,
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value
            },
        )
        return response["MessageId"]


class WebhookIngest:
    """Checks one request and queues its event; raises ApiError for every refusal."""

    def __init__(self, settings: StripeWebhookSettings, queue: EventQueue | None) -> None:
        self.settings = settings
        self.queue = queue

    def receive(self, headers: Mapping[str, str], body: bytes, correlation_id: str | None = None) -> dict[str, Any]:
        secrets = signing_secrets(self.settings.stripe.webhook_secrets, webhooks_log)
        if self.queue is None:
            raise ApiError(503, "not_configured", "WEBHOOKS_QUEUE_URL is not configured; the endpoint is closed")
        payload = signed_json_text(headers, body, self.settings.max_bytes)
        try:
            secret_index = verify_signature(
                payload, headers.get(SIGNATURE_HEADER), secrets, self.settings.tolerance_seconds
            )
        except ApiError as refused:
            webhooks_log.warning("Stripe webhook refused", extra={"reason": refused.code, "body_bytes": len(body)})
            raise
        event = parse_event(payload)
        details = {"event_id": event.id, "event_type": event.type, "livemode": event.livemode}
        if secret_index > 0:
            webhooks_log.warning(
                "Stripe webhook verified with a previous signing secret, so the rotation is not finished",
                extra={**details, "secret_position": secret_index + 1},
            )
        try:
            message_id = self.queue.send(
                payload,
                {
                    ATTRIBUTE_EVENT_ID: event.id,
                    ATTRIBUTE_EVENT_TYPE: event.type,
                    ATTRIBUTE_CORRELATION_ID: correlation_id or "",
                },
            )
        except Exception as error:
            webhooks_log.error(
                "Could not queue a Stripe webhook; Stripe will retry it",
                extra={**details, "error": mask_text(f"{type(error).__name__}: {error}")[:300]},
            )
            raise ApiError(503, "queue_unavailable", "The event could not be queued; retry later") from None
        webhooks_log.info("Stripe webhook queued", extra={**details, "message_id": message_id})
        return {"received": True}
