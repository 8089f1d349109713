"""Talking to a running local stack's API as its clients do: one request from a chosen loopback
address, a signed Stripe webhook, a scrape of GET /api/metrics (read with tests.support.samples)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from localdev.stack import LocalStack
from tests.support.samples import Samples, parse_samples
from tests.support.stripe_events import sign


def request(
    stack: LocalStack,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, bytes]:
    """One request to the stack's API from `source` (a loopback address: the local API reports the
    TCP peer as API Gateway's sourceIp); the status and the answer's bytes."""
    port = urllib.parse.urlsplit(stack.api_url).port or 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def api_call(stack: LocalStack, method: str, path: str, **options: Any) -> tuple[int, dict[str, Any]]:
    """request() (body=, headers=, source=); the JSON answer, or {"text": ...} when it is not JSON."""
    status, data = request(stack, method, path, **options)
    return status, json.loads(data) if data.startswith(b"{") else {"text": data.decode()}


def post_webhook(
    stack: LocalStack,
    payload: str,
    secret: str | None = None,
    *,
    signature: str | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    """POST /api/webhooks/stripe with the payload's exact bytes and a Stripe-Signature: `signature`
    as given (a redelivery, a signature made elsewhere), else made now with `secret`."""
    if signature is None:
        if secret is None:
            raise TypeError("post_webhook needs the webhook secret or a signature")
        signature = sign(payload, secret)
    headers = {"Content-Type": content_type, "Stripe-Signature": signature}
    return api_call(stack, "POST", "/api/webhooks/stripe", body=payload.encode(), headers=headers)


def scrape(stack: LocalStack, secret: str) -> Samples:
    """GET /api/metrics with the bearer secret (it must answer 200), every sample by name and labels."""
    status, data = request(stack, "GET", "/api/metrics", headers={"Authorization": f"Bearer {secret}"})
    text = data.decode()
    assert status == 200, text
    return parse_samples(text)
