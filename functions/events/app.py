"""EventsFunction: POST /api/events, verify X-Monitoring-Signature, validate each event, queue, 202."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from platform_monitoring.api.bodies import request_body
from platform_monitoring.api.responses import create_resolver, json_response
from platform_monitoring.core import clients
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.security.ingest import EventsIngest, InvalidEvents, SqsSecurityQueue
from platform_monitoring.security.settings import EventsSettings
from platform_monitoring.wiring.refusals import report_failed_authentications

settings = load_settings(EventsSettings.from_env)
configure(settings.monitoring)
queue_url = settings.security.queue_url
queue = SqsSecurityQueue(clients.sqs_client(settings.security.aws_timeout), queue_url) if queue_url else None
ingest = EventsIngest(settings, queue)
app = create_resolver()
report_failed_authentications(settings.security)  # a wrong secret or signature is a security event
clients.preload_stripe()  # the signature check is the Stripe library's


@app.exception_handler(InvalidEvents)
def _invalid(error: InvalidEvents) -> Response[str]:
    return json_response(400, {"error": {"code": error.code, "message": error.message}, "errors": error.errors})


@app.post("/api/events")
def receive() -> Response[str]:
    event = app.current_event
    body = request_body(event)
    status, answer = ingest.receive(event.headers, body)
    return json_response(status, answer)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
