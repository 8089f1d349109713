"""`python -m localdev.stripe_sign events/stripe_webhook_<type>.json`: the event, signed now.

The sample events in events/ are signed with the local secret at a fixed time, so by the time you
invoke one its timestamp is outside the 5-minute tolerance (StripeWebhookFunction answers 400
signature_expired, as it should). This prints the same API Gateway event with a fresh
Stripe-Signature, made as Stripe makes it with the first secret of STRIPE_WEBHOOK_SECRET (this
shell's, else .env, else .env.example):

    python -m localdev.stripe_sign events/stripe_webhook_payment_failed.json \\
        | python -m localdev.invoke StripeWebhookFunction -        # what `make webhook` does

--event-id gives the event a new ID (Stripe's events are unique; the processor skips a repeat).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from localdev.stack import PROJECT_ROOT
from localdev.template import load_dotenv

SIGNATURE_HEADER = "Stripe-Signature"


def first_secret(value: str) -> str:
    """The first of STRIPE_WEBHOOK_SECRET's comma-separated secrets (the one Stripe signs with now)."""
    return next((part.strip() for part in value.split(",") if part.strip()), "")


def webhook_secret(root: Path = PROJECT_ROOT) -> str:
    value = os.environ.get("STRIPE_WEBHOOK_SECRET") or load_dotenv(root / ".env").get("STRIPE_WEBHOOK_SECRET", "")
    secret = first_secret(value)
    if not secret:
        raise SystemExit("STRIPE_WEBHOOK_SECRET is not set (in the shell, .env or .env.example)")
    return secret


def resign(event: dict[str, Any], secret: str, timestamp: int | None = None, new_id: bool = False) -> dict[str, Any]:
    """The API Gateway event with its body's Stripe-Signature remade for `timestamp` (default now);
    `new_id`: a new event (a fresh evt_ ID, created at `timestamp`)."""
    import stripe  # noqa: PLC0415

    body = str(event.get("body") or "")
    signed_at = timestamp or int(time.time())
    if new_id:
        # A new event is created now, as Stripe would: the absence rules read `created` as last seen.
        payload = json.loads(body)
        payload["id"] = f"evt_local_{uuid.uuid4().hex[:24]}"
        payload["created"] = signed_at
        body = json.dumps(payload, indent=2)
        event["body"] = body
    header = stripe.WebhookSignature.generate_signature_header(body, secret, signed_at)
    for key in ("headers", "multiValueHeaders"):
        headers = event.get(key)
        if isinstance(headers, dict):
            for name in [n for n in headers if n.lower() == SIGNATURE_HEADER.lower()]:
                del headers[name]
            headers[SIGNATURE_HEADER] = header if key == "headers" else [header]
    return event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.stripe_sign", description=__doc__.split("\n\n")[0])
    parser.add_argument("event", help="an API Gateway event file for POST /api/webhooks/stripe")
    parser.add_argument("--event-id", action="store_true", help="give the Stripe event a new evt_ ID")
    args = parser.parse_args(argv)
    event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    sys.stdout.write(json.dumps(resign(event, webhook_secret(), new_id=args.event_id)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
