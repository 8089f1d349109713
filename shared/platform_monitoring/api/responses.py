"""API answers: JSON errors of one shape, the Powertools resolver every API function uses."""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from platform_monitoring.api.refusals import report_refusal
from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import monitoring_log

JSON = "application/json"


class ApiError(Exception):
    """An error answer: HTTP status, machine-readable code, human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, separators=(",", ":"), default=str),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def error_response(status: int, code: str, message: str) -> Response[str]:
    # A message may quote what the caller sent (an unknown alert type): never a secret back.
    return json_response(status, {"error": {"code": code, "message": mask_text(message)}})


def dependency_unavailable(error: Exception) -> bool:
    """An AWS service (DynamoDB, SQS...) unreachable, timing out, throttling or failing on its side:
    a 503 the caller can retry, not a 500 bug."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - only after a failure

    if isinstance(error, BotoCoreError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code = str(error.response.get("Error", {}).get("Code") or "")
        return status >= 500 or "Throttl" in code or code == "ProvisionedThroughputExceededException"
    return False


def create_resolver() -> APIGatewayRestResolver:
    """A REST API resolver whose every failure answers in the bundle's JSON error shape."""
    app = APIGatewayRestResolver(strip_prefixes=None)

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response[str]:
        report_refusal(app.current_event.raw_event, error.code)  # a wrong secret or signature counts
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(binascii.Error)
    def _bad_base64(_: binascii.Error) -> Response[str]:
        return error_response(400, "invalid_base64", "The body is flagged base64 but is not valid base64")

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(_: UnicodeDecodeError) -> Response[str]:
        return error_response(400, "invalid_payload", "The body is not UTF-8")

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        return error_response(404, "not_found", "No such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        if dependency_unavailable(error):
            monitoring_log.exception("A dependency failed while serving a request")
            return error_response(503, "dependency_unavailable", "A dependency is unavailable; retry later")
        monitoring_log.exception("Unhandled error while serving a request")
        _report_to_sentry(error)
        return error_response(500, "internal_error", "The request could not be processed")

    return app


def _report_to_sentry(error: Exception) -> None:
    import sys  # noqa: PLC0415

    # Only when Sentry was started: capturing must never import it.
    if "sentry_sdk" in sys.modules:
        sys.modules["sentry_sdk"].capture_exception(error)
