"""HTTP pieces shared by the API functions: the resolver, JSON errors, secret checks.

Errors raised anywhere below a route become `{"error": {"code", "message"}}` answers here,
in one place, never a stack trace and never an echo of what the caller sent as a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from platform_monitoring.masking import mask_text
from platform_monitoring.observability import monitoring_log
from platform_monitoring.settings import Secret

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


def secrets_match(provided: str, expected: str) -> bool:
    """Constant-time comparison; hashing first also hides the secret's length."""
    return hmac.compare_digest(hashlib.sha256(provided.encode()).digest(), hashlib.sha256(expected.encode()).digest())


def require_secret(
    headers: Mapping[str, str],
    secret: Secret,
    header: str,
    accept_bearer: bool = False,
) -> None:
    """Let the request through only when it carries the configured secret.

    Fail closed: with no secret configured (or one that cannot be read), the endpoint
    refuses every request with 503. The comparison runs in constant time.
    """
    try:
        expected = secret.reveal()
    except Exception:
        monitoring_log.exception("Could not read the endpoint secret", extra={"variable": secret.variable})
        raise ApiError(503, "secret_unavailable", f"{secret.variable} could not be read") from None
    if not expected:
        raise ApiError(503, "not_configured", f"{secret.variable} is not configured; the endpoint is closed")
    provided = headers.get(header)
    if not provided and accept_bearer:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        provided = token.strip() if scheme.lower() == "bearer" else None
    if not provided:
        raise ApiError(401, "unauthorized", f"Missing {header} header")
    if not secrets_match(provided, expected):
        raise ApiError(401, "unauthorized", "Invalid credentials")


JSON_BODY_LIMIT = 16 * 1024


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400
        raise ValueError(f"{text} is not a finite number")
    return value


def _double(text: str) -> int:
    value = int(text)
    float(value)  # OverflowError (an ArithmeticError) past 1.8e308: refused like 1e400
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """Strict JSON: NaN, Infinity and numbers too big for a double are refused (no JSON store or
    DynamoDB Number holds them), and so is nesting too deep to read (RecursionError); all ValueError."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_double)
    except (RecursionError, OverflowError):
        raise ValueError("the JSON is nested too deeply or has a number too big") from None


def request_body(event: BaseProxyEvent) -> bytes:
    """The body's bytes as sent: API Gateway base64-encodes a body that is not UTF-8 text."""
    raw = event.body or ""
    return base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")


def json_object_body(body: bytes, headers: Mapping[str, str], max_bytes: int = JSON_BODY_LIMIT) -> dict[str, Any]:
    """The JSON object a management request sent (an empty body is {}); 400, 413 or 415 when it is not one."""
    if not body:
        return {}
    if len(body) > max_bytes:
        raise ApiError(413, "payload_too_large", f"The body is limited to {max_bytes} bytes")
    if "json" not in (headers.get("Content-Type") or "").lower():
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json")
    try:
        parsed = parse_json(body.decode("utf-8"))  # UnicodeDecodeError is a ValueError too
    except ValueError:
        raise ApiError(400, "invalid_json", "The body is not valid UTF-8 JSON") from None
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object")
    return parsed


def signed_json_text(headers: Mapping[str, str], body: bytes, max_bytes: int) -> str:
    """The text of a signed JSON request (webhooks, platform events), checked before its signature: 413, 415, 400."""
    if len(body) > max_bytes:
        raise ApiError(413, "payload_too_large", f"The body is over {max_bytes} bytes")
    if (headers.get("Content-Type") or "").split(";")[0].strip().lower() != JSON:
        raise ApiError(415, "unsupported_media_type", f"The body must be {JSON}")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_payload", "The body is not UTF-8") from None
