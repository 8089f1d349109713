"""Stripe's signature scheme (`t=<unix>,v1=<hex HMAC-SHA256>`), verified by the Stripe library.

Both signed routes use it: Stripe's webhooks and the platform's POST /api/events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from platform_monitoring.api.responses import ApiError
from platform_monitoring.core.config import Secret

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

STRIPE_SIGNATURE_HEADER = "Stripe-Signature"


def webhook_secrets(secret: Secret) -> list[str]:
    """The configured signing secrets, newest first: STRIPE_WEBHOOK_SECRET is comma-separated so a
    secret can be rolled without downtime (add the new one in front, drop the old one later)."""
    value = secret.reveal()
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def signing_secrets(secret: Secret, log: Logger) -> list[str]:
    """A signed endpoint's secrets (webhook_secrets); 503 when they cannot be read or none is set:
    an endpoint whose secret is not configured is closed, never open."""
    try:
        secrets = webhook_secrets(secret)
    except Exception:
        log.exception("Could not read the signing secret", extra={"variable": secret.variable})
        raise ApiError(503, "secret_unavailable", f"{secret.variable} could not be read") from None
    if not secrets:
        raise ApiError(503, "not_configured", f"{secret.variable} is not configured; the endpoint is closed")
    return secrets


def verify_signature(
    payload: str,
    header: str | None,
    secrets: Sequence[str],
    tolerance_seconds: int,
    *,
    header_name: str = STRIPE_SIGNATURE_HEADER,
) -> int:
    """Index of the secret that verifies `header` for `payload`; raises a 400 ApiError otherwise.

    The check is the Stripe library's own: it compares the HMAC-SHA256 of "<t>.<payload>" with
    every `v1=` signature in the header in constant time (hmac.compare_digest) and rejects a
    timestamp older than the tolerance. Stripe's messages are never passed on: they quote the
    header's timestamp. The security events endpoint uses the same scheme under its own header name.
    """
    import stripe  # noqa: PLC0415 - imported at cold start by the function, lazily everywhere else

    if not header or not header.strip():
        raise ApiError(400, "missing_signature", f"The {header_name} header is missing")
    expired = malformed = False
    for index, secret in enumerate(secrets):
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance_seconds)
        except stripe.SignatureVerificationError as error:
            reason = str(error)
            expired = expired or reason.startswith("Timestamp outside the tolerance zone")
            malformed = malformed or reason.startswith(("Unable to extract", "No signatures found with expected"))
            continue
        return index
    if expired:  # the signature matched, the timestamp is too old: a replay or a clock problem
        raise ApiError(400, "signature_expired", f"The {header_name} timestamp is outside the tolerance")
    if malformed:
        raise ApiError(400, "malformed_signature", f"The {header_name} header is not in Stripe's format")
    raise ApiError(400, "invalid_signature", f"The {header_name} header does not match the payload")
