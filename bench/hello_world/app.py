"""The cold-start yardstick: a Powertools hello-world function (Logger and the REST resolver), the
least an API-facing Lambda in this style loads. bench/__main__.py starts it beside every function."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

logger = Logger(service="hello-world")
app = APIGatewayRestResolver()


@app.get("/api/health")
def hello() -> dict[str, str]:
    logger.info("hello")
    return {"message": "hello world"}


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
