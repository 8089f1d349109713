"""Stripe webhook events for tests, built from Stripe's own object fixtures and signed as Stripe signs.

    event = stripe_event("payment_intent.succeeded", amount_received=2500, currency="eur")
    payload = serialize(event)
    header = sign(payload, "whsec_test")                    # t=<now>,v1=<hex HMAC-SHA256 of "<t>.<payload>">
    api_event = api_gateway_event(payload, header)          # what API Gateway hands StripeWebhookFunction
    sqs = sqs_batch([payload, payload])                     # what the SQS poller hands WebhookProcessorFunction

The objects come from tests/fixtures/stripe/fixtures3.json (stripe/openapi's fixtures, see its README): each
event is that file's `event` envelope with `type`, a fresh `evt_` ID and one of its `resources`
as `data.object`.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "stripe" / "fixtures3.json"

# The resource each event type carries as data.object.
RESOURCES = {
    "payment_intent.succeeded": "payment_intent",
    "payment_intent.payment_failed": "payment_intent",
    "invoice.payment_failed": "invoice",
    "customer.subscription.created": "subscription",
    "charge.dispute.created": "dispute",
    "charge.refunded": "charge",
    "customer.created": "customer",
    "plan.created": "plan",
}
HANDLED_TYPES = tuple(list(RESOURCES)[:6])


@functools.cache
def fixtures() -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return resources


def stripe_object(resource: str, **changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(fixtures()[resource])
    obj.update(changes)
    return obj


def stripe_event(
    event_type: str,
    *,
    event_id: str | None = None,
    resource: str | None = None,
    created: int | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """An event of `event_type` around a fixture object (with `changes` applied to the object)."""
    obj = stripe_object(resource or RESOURCES.get(event_type, "customer"), **changes)
    if event_type == "payment_intent.succeeded":
        obj.setdefault("status", "succeeded")
        if "amount_received" not in changes:
            obj["amount_received"] = obj.get("amount", 0)
        if "last_payment_error" not in changes:
            obj["last_payment_error"] = None
    if event_type == "payment_intent.payment_failed" and "last_payment_error" not in changes:
        obj["last_payment_error"] = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
        }
    if event_type == "charge.refunded" and "refunded" not in changes:
        obj["refunded"], obj["amount_refunded"] = True, obj.get("amount", 0)
    event: dict[str, Any] = copy.deepcopy(fixtures()["event"])
    event.update(
        id=event_id or f"evt_test_{uuid.uuid4().hex[:24]}",
        type=event_type,
        created=created if created is not None else int(time.time()),
        api_version="2024-06-20",
        data={"object": obj},
    )
    return event


def serialize(event: Mapping[str, Any]) -> str:
    """Stripe sends pretty-printed JSON; the signature covers these exact bytes."""
    return json.dumps(event, indent=2)


def signature(payload: str, secret: str, timestamp: int) -> str:
    """The v1 signature, computed here from Stripe's documented scheme (not with the library under test)."""
    return hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()


def sign(payload: str, *secrets: str, timestamp: int | None = None) -> str:
    """Stripe-Signature: t=<timestamp>,v1=<sig>[,v1=<sig> ...] (one v1 per secret, as during a secret roll)."""
    t = int(time.time()) if timestamp is None else timestamp
    return ",".join([f"t={t}", *(f"v1={signature(payload, secret, t)}" for secret in secrets)])


def api_gateway_event(
    body: str | bytes,
    signature_header: str | None,
    *,
    content_type: str | None = "application/json; charset=utf-8",
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The REST API proxy event for POST /api/webhooks/stripe, as events/stripe_webhook_*.json."""
    all_headers = {"Host": "127.0.0.1:3000", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    if signature_header is not None:
        all_headers["Stripe-Signature"] = signature_header
    all_headers.update(headers or {})
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return {
        "resource": "/api/webhooks/stripe",
        "path": "/api/webhooks/stripe",
        "httpMethod": "POST",
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "wh0001",
            "resourcePath": "/api/webhooks/stripe",
            "httpMethod": "POST",
            "extendedRequestId": "sample-extended-id",
            "requestTime": "29/Nov/2026:10:00:00 +0000",
            "path": "/dev/api/webhooks/stripe",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "dev",
            "domainPrefix": "127",
            "requestTimeEpoch": 1795860000000,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8de0a0001",
            "identity": {"sourceIp": "54.187.174.169", "userAgent": all_headers["User-Agent"]},
            "domainName": "127.0.0.1:3000",
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": False,
    }


def sqs_record(body: str, message_id: str | None = None) -> dict[str, Any]:
    message_id = message_id or str(uuid.uuid4())
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795860000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1795860000001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:WebhooksQueue",
        "awsRegion": "us-east-1",
    }


def sqs_batch(bodies: Iterable[str]) -> dict[str, Any]:
    return {"Records": [sqs_record(body) for body in bodies]}


class InMemoryQueue:
    """The webhooks queue as a list (StripeWebhookFunction's EventQueue)."""

    def __init__(self, fail: bool = False) -> None:
        self.messages: list[tuple[str, dict[str, str]]] = []
        self.fail = fail

    def send(self, body: str, attributes: Mapping[str, str]) -> str:
        if self.fail:
            raise ConnectionError("sqs is down (password=hunter2)")
        self.messages.append((body, dict(attributes)))
        return f"msg-{len(self.messages)}"


class InMemoryPersistenceLayer(BasePersistenceLayer):
    """Powertools Idempotency records in a dict, with the DynamoDB layer's conditional-put rules."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}
        self.puts = 0
        self.fail_next_update = False

    def _get_record(self, idempotency_key: str) -> DataRecord:
        try:
            return self.records[idempotency_key]
        except KeyError:
            raise IdempotencyItemNotFoundError from None

    def _put_record(self, data_record: DataRecord) -> None:
        self.puts += 1
        existing = self.records.get(data_record.idempotency_key)
        now = dt.datetime.now()
        if existing is not None:
            expired = existing.expiry_timestamp is not None and existing.expiry_timestamp < int(now.timestamp())
            in_progress_expired = (
                existing.status == "INPROGRESS"
                and existing.in_progress_expiry_timestamp is not None
                and existing.in_progress_expiry_timestamp < int(now.timestamp() * 1000)
            )
            if not (expired or in_progress_expired):
                raise IdempotencyItemAlreadyExistsError(old_data_record=existing)
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        if self.fail_next_update:
            self.fail_next_update = False
            raise ConnectionError("dynamodb went away")
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)

    def statuses(self) -> list[str]:
        return sorted(record.status for record in self.records.values())


# -- the sample events in events/ (regenerate: .venv/bin/python -m tests.support.stripe_events) --
SAMPLE_SECRET = "whsec_local"  # STRIPE_WEBHOOK_SECRET in .env.example
SAMPLE_TIMESTAMP = 1795860000  # fixed, so the files are reproducible; re-sign with localdev.stripe_sign
SAMPLE_TYPES = {
    "payment_intent_succeeded": "payment_intent.succeeded",
    "payment_failed": "payment_intent.payment_failed",
    "invoice_payment_failed": "invoice.payment_failed",
    "subscription_created": "customer.subscription.created",
    "dispute_created": "charge.dispute.created",
    "charge_refunded": "charge.refunded",
    "unknown_type": "customer.created",
}


def sample_event(name: str) -> dict[str, Any]:
    return stripe_event(SAMPLE_TYPES[name], event_id=f"evt_sample_{name}", created=SAMPLE_TIMESTAMP)


def sample_files() -> dict[str, dict[str, Any]]:
    """File name in events/ -> content."""
    files: dict[str, dict[str, Any]] = {}
    for name in SAMPLE_TYPES:
        payload = serialize(sample_event(name))
        header = sign(payload, SAMPLE_SECRET, timestamp=SAMPLE_TIMESTAMP)
        files[f"stripe_webhook_{name}.json"] = api_gateway_event(payload, header)
    bodies = [serialize(sample_event(name)) for name in SAMPLE_TYPES]
    bodies.insert(1, bodies[0])  # the same event delivered twice: processed once, then a duplicate
    bodies.append('{"not": "a stripe event"')  # a poison message: reported in batchItemFailures
    batch = {
        "Records": [sqs_record(body, f"00000000-0000-4000-8000-{index:012d}") for index, body in enumerate(bodies)]
    }
    files["webhook_processor_batch.json"] = batch
    return files


def main() -> None:
    for name, content in sample_files().items():
        (ROOT / "events" / name).write_text(json.dumps(content, indent=2) + "\n")
        print(f"wrote events/{name}")


if __name__ == "__main__":
    main()
