"""StripeReconciliationFunction: every 10 minutes (and on demand), the Stripe events whose webhook never
arrived, from the Events API through the same exactly-once processor (webhooks/reconciliation.py).

On demand: `{"since": "2h"}` replays the last two hours whatever the checkpoint says."""

from __future__ import annotations

from typing import Any

from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.webhooks.reconciliation import parse_since
from platform_monitoring.webhooks.settings import ReconciliationSettings
from platform_monitoring.wiring.reconciliation import build_reconciler

settings = ReconciliationSettings.from_env()
configure(settings.processor.monitoring)
reconciler = build_reconciler(settings, AlertingSettings.from_env(monitoring=settings.processor.monitoring))


class ReconciliationError(RuntimeError):
    """Some events could not be listed or processed (logged); raised so the Errors alarm sees it.
    The checkpoint stayed at the oldest of them, so the next run tries them again."""


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if context is not None:
        # An INPROGRESS idempotency record of a run that timed out expires with it.
        reconciler.processor.config.register_lambda_context(context)
    since_text = event.get("since") if isinstance(event, dict) else None
    since = None if not since_text else int(reconciler.clock()) - parse_since(str(since_text))
    run = reconciler.run(since=since)
    if run.errors:
        raise ReconciliationError("; ".join(run.errors))
    return run.to_dict()
