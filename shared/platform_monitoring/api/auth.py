"""Shared-secret checks for the API routes: constant time, and closed when the secret is not configured."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from platform_monitoring.api.responses import ApiError
from platform_monitoring.core.config import Secret
from platform_monitoring.observability.logging import monitoring_log


def secrets_match(provided: str, expected: str) -> bool:
    """Constant-time comparison; hashing first also hides the secret's length."""
    return hmac.compare_digest(hashlib.sha256(provided.encode()).digest(), hashlib.sha256(expected.encode()).digest())


ADMIN_HEADER = "X-Alerts-Admin-Secret"


def require_admin(headers: Mapping[str, str], admin_secret: Secret) -> None:
    """The routes that change the security controls (silences, blocks, unblocks): ALERTS_ADMIN_SECRET in
    X-Alerts-Admin-Secret or `Authorization: Bearer`. The read secret never opens them; unset, they refuse."""
    require_secret(headers, admin_secret, ADMIN_HEADER, accept_bearer=True)


def source_ip(event: Mapping[str, object]) -> str | None:
    """API Gateway's own view of the caller's address (requestContext.identity.sourceIp), for the audit."""
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, Mapping) else None
    ip = identity.get("sourceIp") if isinstance(identity, Mapping) else None
    return str(ip) if ip else None


def require_secret(
    headers: Mapping[str, str],
    secret: Secret,
    header: str | None,
    accept_bearer: bool = False,
) -> None:
    """Let the request through only when it carries the configured secret.

    Fail closed: with no secret configured (or one that cannot be read), the endpoint
    refuses every request with 503. The comparison runs in constant time. header None:
    `Authorization: Bearer` only.
    """
    try:
        expected = secret.reveal()
    except Exception:
        monitoring_log.exception("Could not read the endpoint secret", extra={"variable": secret.variable})
        raise ApiError(503, "secret_unavailable", f"{secret.variable} could not be read") from None
    if not expected:
        raise ApiError(503, "not_configured", f"{secret.variable} is not configured; the endpoint is closed")
    provided = headers.get(header) if header else None
    if not provided and (accept_bearer or header is None):
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        provided = token.strip() if scheme.lower() == "bearer" else None
    if not provided:
        raise ApiError(401, "unauthorized", f"Missing {header or 'Authorization: Bearer'} header")
    if not secrets_match(provided, expected):
        raise ApiError(401, "unauthorized", "Invalid credentials")
