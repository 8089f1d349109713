"""Stripe webhooks: verify and queue (ingest), then process each event exactly once."""
