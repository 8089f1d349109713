"""StripeWebhookFunction: POST /api/webhooks/stripe, verify Stripe's signature, queue the event, 200 at once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from platform_monitoring.api.bodies import request_body
from platform_monitoring.api.responses import create_resolver, json_response
from platform_monitoring.core import clients
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.logging import correlation_id_from
from platform_monitoring.webhooks.ingest import SqsEventQueue, WebhookIngest
from platform_monitoring.webhooks.settings import StripeWebhookSettings
from platform_monitoring.wiring.refusals import report_failed_authentications

settings = load_settings(StripeWebhookSettings.from_env)
configure(settings.monitoring)
queue = SqsEventQueue(clients.sqs_client(settings.aws_timeout), settings.queue_url) if settings.queue_url else None
ingest = WebhookIngest(settings, queue)
app = create_resolver()
report_failed_authentications()  # a wrong secret or signature is a security event
clients.preload_stripe()  # the signature check's library, imported during init rather than on the first request


@app.post("/api/webhooks/stripe")
def receive() -> Response[str]:
    event = app.current_event
    body = request_body(event)
    answer = ingest.receive(event.headers, body, correlation_id_from(event.raw_event))
    return json_response(200, answer)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
