"""Request bodies: size limits, strict JSON, base64 decoding of API Gateway's body."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from platform_monitoring.api.responses import JSON, ApiError

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
