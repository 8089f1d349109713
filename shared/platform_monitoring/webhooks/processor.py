"""WebhookProcessorFunction's logic: each Stripe event from the webhooks queue, processed exactly once.

- Batches come from SQS; Powertools' BatchProcessor reports failed records as
  `batchItemFailures`, so a poison message is retried alone and, after the queue's
  maxReceiveCount, moves to the dead-letter queue without holding back the rest of its batch.
- Exactly once: Powertools Idempotency keyed by the Stripe event ID (`stripe-event#<md5 of id>`)
  in DynamoDB. The first delivery writes an INPROGRESS record with a conditional put; a
  redelivery of a finished event gets the stored result and changes nothing; one that arrives
  while the first is still running fails (and is retried later by SQS) instead of running twice.
- Metrics are committed only once the record is COMPLETED: a handler builds its effects, and
  they reach the metric store (and CloudWatch) after the idempotent call returned having run the
  handler in this invocation. A failure at any step before that leaves no count behind, so the
  retry counts the event once.
- Alerts are sent from inside the idempotent call, before the record is completed: if sending
  fails the event is retried (at least once, never silently lost).
- Handlers only add to counters, so events are handled in whatever order they arrive.
- Last seen: each event handled (processed, ignored or a duplicate) raises the gauge
  stripe_event_last_seen_timestamp_seconds{type} (and {type="any"}) to the event's `created`
  (Stripe's clock, never later than ours), which the absence rules read (alerting/absence.py).
  It is a conditional max in the metric store's flush (Redis, one Lua call per invocation that
  the counters make anyway): a batch of ten costs no extra request, and Lambdas flushing out of
  order never move it back. A DynamoDB item with a conditional max would be one more request per
  type per batch (issue 17's budget is two DynamoDB requests per event), and the metric store
  already holds what the dashboards read. A recovered event (reconciliation) counts as seen at
  its own creation time: payments that happened while deliveries failed end payments_absent
  (they did happen), and stripe_events_missed reports the failed deliveries.
- Card testing: each payment failure and success also feeds the card-testing detector
  (webhooks/card_testing.py) once per batch, after the events are processed.
- Each event is timed as the guide's `stripe_webhook` transaction, with `status_code` (200
  processed, ignored or duplicate; 409 already in progress elsewhere; 500 failed) and
  `webhook_type`, and in `stripe_webhook_duration_ms{type}`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platform_monitoring.core.interfaces import Alerting, require_recorded
from platform_monitoring.core.masking import mask_text
from platform_monitoring.core.sqs_batch import SqsBatch
from platform_monitoring.observability.logging import monitoring_log, stripe_log, webhooks_log
from platform_monitoring.observability.metrics import count_business, recorder
from platform_monitoring.observability.performance import PerformanceMonitor
from platform_monitoring.webhooks.card_testing import CardTestingDetector, PaymentAttempt, card_key

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

TRANSACTION = "stripe_webhook"
IDEMPOTENCY_KEY_PREFIX = "stripe-event"


# Alert types, fed one occurrence at a time; the AlertingService's rules decide when they fire
# (payment_failure: 3 in 5 minutes, critical; stripe_webhook_failure: 5 in 5 minutes, high).
PAYMENT_FAILURE = "payment_failure"
WEBHOOK_FAILURE = "stripe_webhook_failure"
DISPUTE = "stripe_dispute"


PROCESSED, IGNORED, DUPLICATE, FAILED = "processed", "ignored", "duplicate", "failed"

# Where an event came from: Stripe's delivery (the queue), or the Events API when the delivery
# never arrived (webhooks/reconciliation.py). A recovered event is also counted in
# stripe_webhooks_recovered_total, so a missed delivery stays visible after it was made good.
WEBHOOK, RECONCILIATION = "webhook", "reconciliation"


LAST_SEEN = "stripe_event_last_seen_timestamp_seconds"
ANY_TYPE = "any"  # the absence rules' name for "an event of any type"

STATUS_CODES = {PROCESSED: 200, IGNORED: 200, DUPLICATE: 200, FAILED: 500}
_EVENT_TYPE = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)+$")
_REASON = re.compile(r"^[a-z0-9_]{1,64}$")
_CURRENCY = re.compile(r"^[a-z]{3}$")


class LoggingAlerting:
    """The default when no AlertingService is given (a platform function without alerting): logged only."""

    def alert(self, alert_type: str, context: dict[str, Any], /) -> object:
        monitoring_log.warning(
            f"Alert occurrence {alert_type} (no AlertingService wired; logged only)",
            extra={"alert_type": alert_type, "alert_context": context},
        )
        return None


class MalformedEvent(ValueError):
    """The message is not a Stripe event this processor can read; retrying will not help."""


class AlreadyInProgress(RuntimeError):
    """Another invocation is processing the same event right now; SQS retries this one later."""


@dataclass
class Effects:
    """What processing one event does to the metrics, applied only once it is durable."""

    status: str
    counts: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    alerts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attempt: PaymentAttempt | None = None  # for the card-testing detector

    def count(self, name: str, value: float = 1.0, **labels: str) -> Effects:
        self.counts.append((name, value, labels))
        return self

    def alert(self, alert_type: str, context: dict[str, Any]) -> Effects:
        self.alerts.append((alert_type, context))
        return self


# -- what each event type does ---------------------------------------------------------
def _amount(obj: Mapping[str, Any], *keys: str) -> int:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise MalformedEvent(f"{key} is negative")
            return value
    raise MalformedEvent(f"no integer {' or '.join(keys)}")


def _currency(obj: Mapping[str, Any]) -> str:
    currency = str(obj.get("currency") or "").lower()
    if not _CURRENCY.match(currency):
        raise MalformedEvent("no ISO currency code")
    return currency


def _label(value: Any, default: str = "unknown") -> str:
    text = str(value).lower() if value else ""
    return text if _REASON.match(text) else ("other" if text else default)


def _basics(event: Mapping[str, Any], obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"event_id": event.get("id"), "event_type": event.get("type"), "object_id": obj.get("id")}


def _created(event: Mapping[str, Any]) -> float:
    created = event.get("created")
    return float(created) if isinstance(created, int | float) and not isinstance(created, bool) else time.time()


def _fingerprint(payment_method: Any) -> str | None:
    """The card's fingerprint under a payment method (or a charge's payment_method_details), hashed."""
    card = payment_method.get("card") if isinstance(payment_method, Mapping) else None
    return card_key(card.get("fingerprint")) if isinstance(card, Mapping) else None


def payment_succeeded(event: Mapping[str, Any], obj: Mapping[str, Any]) -> Effects:
    amount = _amount(obj, "amount_received", "amount")
    effects = Effects(PROCESSED).count("revenue_processed_cents", amount, currency=_currency(obj))
    effects.attempt = PaymentAttempt(succeeded=True, created=_created(event), amount=amount)
    return effects


def payment_intent_failed(event: Mapping[str, Any], obj: Mapping[str, Any]) -> Effects:
    error = obj.get("last_payment_error") or {}
    if not isinstance(error, Mapping):
        error = {}
    reason = _label(error.get("decline_code") or error.get("code") or error.get("type"))
    effects = _payment_failure(event, obj, reason)
    effects.attempt = _declined(event, obj, reason, error.get("payment_method"))
    return effects


def charge_failed(event: Mapping[str, Any], obj: Mapping[str, Any]) -> Effects:
    # A charge of a PaymentIntent fails with its payment_intent.payment_failed, which counts it:
    # only a charge made without one (the Charges API, card testers' favourite) counts here.
    if obj.get("payment_intent"):
        return Effects(IGNORED)
    reason = _label(obj.get("failure_code"))
    effects = _payment_failure(event, obj, reason)
    effects.attempt = _declined(event, obj, reason, obj.get("payment_method_details"))
    return effects


def _declined(event: Mapping[str, Any], obj: Mapping[str, Any], reason: str, payment_method: Any) -> PaymentAttempt:
    amount = obj.get("amount")
    return PaymentAttempt(
        succeeded=False,
        created=_created(event),
        decline_code=reason,
        card=_fingerprint(payment_method),
        amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
    )


def invoice_payment_failed(event: Mapping[str, Any], obj: Mapping[str, Any]) -> Effects:
    # The decline itself is on the invoice's PaymentIntent (and its own event); here, the invoice.
    return _payment_failure(event, obj, "invoice")


def _payment_failure(event: Mapping[str, Any], obj: Mapping[str, Any], reason: str) -> Effects:
    context = {**_basics(event, obj), "reason": reason, "currency": obj.get("currency")}
    context["amount"] = obj.get("amount") if "amount" in obj else obj.get("amount_due")
    return Effects(PROCESSED).count("payment_failures_total", reason=reason).alert(PAYMENT_FAILURE, context)


def subscription_created(event: Mapping[str, Any], obj: Mapping[str, Any]) -> Effects:
    return Effects(PROCESSED).count("subscriptions_created_total")


def dispute_created(event: Mapping[str, Any], obj: Mapping[str, Any]) -> Effects:
    context = {
        **_basics(event, obj),
        "charge": obj.get("charge"),
        "amount": obj.get("amount"),
        "currency": obj.get("currency"),
        "reason": _label(obj.get("reason")),
    }
    return Effects(PROCESSED).count("disputes_total").alert(DISPUTE, context)


def charge_refunded(event: Mapping[str, Any], obj: Mapping[str, Any]) -> Effects:
    return Effects(PROCESSED).count("refunds_total")


Handler = Callable[[Mapping[str, Any], Mapping[str, Any]], Effects]


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": payment_succeeded,
    "payment_intent.payment_failed": payment_intent_failed,
    "charge.failed": charge_failed,
    "invoice.payment_failed": invoice_payment_failed,
    "customer.subscription.created": subscription_created,
    "charge.dispute.created": dispute_created,
    "charge.refunded": charge_refunded,
}


def effects_of(event: Mapping[str, Any]) -> Effects:
    """The effects of one event; any other type is acknowledged (and counted as ignored)."""
    handler = HANDLERS.get(str(event.get("type")))
    if handler is None:
        return Effects(IGNORED)
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise MalformedEvent("no data.object")
    return handler(event, obj)


def type_label(event_type: Any) -> str:
    """A Stripe event type as a label value (dotted lowercase words), else "other"."""
    text = str(event_type)
    return text if len(text) <= 100 and _EVENT_TYPE.match(text) else "other"


def parse_message(body: str) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        raise MalformedEvent("the message is not JSON") from None
    if not isinstance(event, dict):
        raise MalformedEvent("the message is not a JSON object")
    if not isinstance(event.get("id"), str) or not event["id"] or not isinstance(event.get("type"), str):
        raise MalformedEvent("the message has no event id or type")
    return event


# -- the processor ---------------------------------------------------------------------
class WebhookProcessor:
    """Processes Stripe events exactly once (see the module docstring)."""

    def __init__(
        self,
        persistence: BasePersistenceLayer,
        *,
        alerts: Alerting | None = None,
        monitor: PerformanceMonitor | None = None,
        expiry_seconds: int = 30 * 24 * 3600,
        use_local_cache: bool = True,
        clock: Callable[[], float] = time.perf_counter,
        card_testing: CardTestingDetector | None = None,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
            IdempotencyConfig,
            idempotent_function,
        )

        self.alerts: Alerting = alerts if alerts is not None else LoggingAlerting()
        self.monitor = monitor if monitor is not None else PerformanceMonitor()
        self.config = IdempotencyConfig(
            event_key_jmespath="id",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expiry_seconds,
            use_local_cache=use_local_cache,
        )
        self._run_once = idempotent_function(
            data_keyword_argument="event",
            persistence_store=persistence,
            config=self.config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )(self._run)
        self._staged: dict[str, Effects] = {}
        self._clock = clock
        self.card_testing = card_testing
        self._attempts: list[PaymentAttempt] = []
        self.batch = SqsBatch(self.process)

    def handle_batch(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The SQS event in, the partial batch response out."""
        if context is not None:
            # An INPROGRESS record of an invocation that timed out expires with it.
            self.config.register_lambda_context(context)
        try:
            return self.batch.process(event, context)
        finally:
            self.finish_batch()

    def finish_batch(self) -> list[str]:
        """Feed the batch's payment attempts to the card-testing detector (one Redis round trip);
        returns the patterns that held. The queue's batches call it; so does a reconciliation run."""
        attempts, self._attempts = self._attempts, []
        if self.card_testing is None:
            return []
        return self.card_testing.observe(attempts)

    def process(self, body: str, message_id: str | None = None, *, source: str = WEBHOOK) -> str:
        """Process one message; returns its status. Raises (so the record is retried) on failure."""
        started = self._clock()
        event_type = "unparseable"
        with self.monitor.transaction(TRANSACTION) as context:
            try:
                event = parse_message(body)
                event_id, event_type = event["id"], event["type"]
                context.update(webhook_type=event_type, event_id=event_id)
                status = self._process_event(event, source)
            except AlreadyInProgress:
                context["status_code"] = 409
                webhooks_log.info(
                    "Stripe event already in progress elsewhere; retried later",
                    extra={"event_type": event_type, "event_id": context.get("event_id"), "message_id": message_id},
                )
                raise
            except Exception as error:
                context["status_code"] = STATUS_CODES[FAILED]
                self._failed(error, event_type, context.get("event_id"), message_id, started)
                raise
            context["status_code"] = STATUS_CODES[status]
            context["outcome"] = status
            self._seen(event)
            return status

    def _seen(self, event: Mapping[str, Any]) -> None:
        created = event.get("created")
        now = time.time()
        at = float(created) if isinstance(created, int | float) and not isinstance(created, bool) else now
        at = min(at, now)  # a skewed clock must not push last-seen into the future
        recorder.raise_to(LAST_SEEN, at, type=type_label(event["type"]))
        recorder.raise_to(LAST_SEEN, at, type=ANY_TYPE)

    def _process_event(self, event: dict[str, Any], source: str = WEBHOOK) -> str:
        from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
            IdempotencyAlreadyInProgressError,
        )

        event_id, event_type = event["id"], event["type"]
        started = self._clock()
        try:
            self._run_once(event=event)
        except IdempotencyAlreadyInProgressError:
            raise AlreadyInProgress(event_id) from None
        finally:
            effects = self._staged.pop(event_id, None)
        label = type_label(event_type)
        if effects is None:  # the stored result of an earlier delivery: nothing ran, nothing counts
            recorder.inc("stripe_webhooks_total", type=label, status=DUPLICATE)
            webhooks_log.info("Duplicate Stripe event skipped", extra={"event_id": event_id, "event_type": event_type})
            return DUPLICATE
        for name, value, labels in effects.counts:
            count_business(name, value, **labels)
        if effects.attempt is not None and self.card_testing is not None:
            self._attempts.append(effects.attempt)
        recorder.inc("stripe_webhooks_total", type=label, status=effects.status)
        if source == RECONCILIATION:
            recorder.inc("stripe_webhooks_recovered_total", type=label)
        recorder.observe("stripe_webhook_duration_ms", (self._clock() - started) * 1000, type=label)
        details = {"event_id": event_id, "event_type": event_type, "livemode": event.get("livemode"), "source": source}
        if effects.status == IGNORED:
            stripe_log.info(f"Stripe event {event_type} acknowledged (no handler)", extra=details)
        else:
            stripe_log.info(f"Stripe event {event_type} processed", extra=details)
        return effects.status

    def _run(self, event: dict[str, Any]) -> dict[str, str]:
        """The idempotent part: runs once per event ID (again only if it raised)."""
        effects = effects_of(event)
        for alert_type, alert_context in effects.alerts:
            # An occurrence the AlertingService could not record fails the event (before it is
            # COMPLETED), so SQS delivers it again rather than the alert being lost.
            # occurrence_id: a retry of this event (its alert failed half-way) does not count it twice.
            occurrence = {**alert_context, "occurrence_id": event["id"]}
            require_recorded(self.alerts.alert(alert_type, occurrence), alert_type)
        self._staged[event["id"]] = effects
        return {"status": effects.status}

    def _failed(
        self, error: Exception, event_type: str, event_id: str | None, message_id: str | None, started: float
    ) -> None:
        label = type_label(event_type) if event_type != "unparseable" else "unparseable"
        recorder.inc("stripe_webhooks_total", type=label, status=FAILED)
        recorder.observe("stripe_webhook_duration_ms", (self._clock() - started) * 1000, type=label)
        context = {
            "event_id": event_id,
            "event_type": event_type,
            "message_id": message_id,
            "error": mask_text(f"{type(error).__name__}: {error}")[:300],
        }
        webhooks_log.error("Stripe event processing failed; it will be retried", extra=context)
        try:
            self.alerts.alert(WEBHOOK_FAILURE, context)
        except Exception:  # the record fails anyway; a broken alert path must not hide why
            monitoring_log.exception("Could not raise the stripe_webhook_failure alert")
