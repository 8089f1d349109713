"""StripeReconciliationFunction's logic: the Stripe events whose webhook never arrived, from the Events API.

Stripe retries a failed delivery for three days, then gives up; an endpoint that was down, disabled
or refusing signatures loses events. Stripe's Events API keeps 30 days of them, so every run lists
the events created since its checkpoint and sends each through the SAME WebhookProcessor as the
queue: the Powertools idempotency table is the record of what was processed, so an event that
was delivered is a DUPLICATE (nothing counts twice) and one that was not is processed now,
counted in stripe_webhooks_recovered_total and reported as `stripe_events_missed`.

The window of one run is [checkpoint - overlap, now - settle]:
- overlap: Stripe's `created` is Stripe's clock, the checkpoint ours; re-reading a few minutes
  costs a few DUPLICATE answers and never misses an event across the seam;
- settle: an event created seconds ago is normally still on its way (Stripe -> API Gateway ->
  SQS -> processor); reconciling it would report a delivery as missed that is merely in flight.

Two runs never process the same window at once: a run first takes the checkpoint's lease with a
conditional write (the schedule and an operator's `monitoring-test --stripe-reconcile` may
overlap), and moves the checkpoint forward, conditionally again, only while it holds the lease.
Even without the lease, the idempotency table would count each event once; the lease saves the
duplicate work and the Stripe requests.

Stripe rate limits (429): the page is asked again after an exponential backoff with jitter, the
listing resumed after the last event seen (auto-paging restarted with `starting_after`).

The horizon: Stripe lists 30 days of events. A checkpoint older than that (the function was
disabled) leaves a gap nobody can recover; the run reports it (`unrecoverable_gap` in the result,
an error log and the alert's context) instead of quietly starting later.

Event types: those the processor handles (HANDLERS), one listing per type with Stripe's `type`
filter. Stripe also accepts `types[]` (up to 20 in one listing); localstripe, the local stand-in,
accepts only `type`, so the one form both answer is used.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.core.interfaces import Alerting
from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import stripe_log
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.webhooks.processor import (
    DUPLICATE,
    RECONCILIATION,
    AlreadyInProgress,
    WebhookProcessor,
)

if TYPE_CHECKING:
    import stripe
    from mypy_boto3_dynamodb import DynamoDBClient
    from stripe.params import EventListParams

MISSED = "stripe_events_missed"
STRIPE_EVENT_HORIZON_SECONDS = 30 * 24 * 3600
CHECKPOINT_NAME = "stripe-events"
PAGE_SIZE = 100  # Stripe's maximum page


# -- where reconciliation stopped ------------------------------------------------------
class LeaseHeld(RuntimeError):
    """Another run holds the checkpoint's unexpired lease."""


class CheckpointStore(Protocol):
    def acquire(self, name: str, owner: str, now: int, lease_seconds: int) -> int | None:
        """Take the lease; returns the checkpoint (epoch seconds, None when there is none yet).
        Raises LeaseHeld when another run holds an unexpired lease."""
        ...

    def release(self, name: str, owner: str, checkpoint: int | None) -> bool:
        """Give the lease back, moving the checkpoint forward to `checkpoint` (never back).
        False when the lease was no longer this owner's (it expired and another run took it)."""
        ...


class DynamoCheckpointStore:
    """One item per checkpoint name in ReconciliationCheckpointTable: checkpoint, lease_owner, lease_until."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def acquire(self, name: str, owner: str, now: int, lease_seconds: int) -> int | None:
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key={"name": {"S": name}},
                UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now",
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"N": str(now + lease_seconds)},
                    ":now": {"N": str(now)},
                },
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise LeaseHeld(name) from None
        checkpoint = response["Attributes"].get("checkpoint")
        return int(checkpoint["N"]) if checkpoint else None

    def release(self, name: str, owner: str, checkpoint: int | None) -> bool:
        values: dict[str, Any] = {":owner": {"S": owner}}
        update = "REMOVE lease_owner, lease_until"
        if checkpoint is not None:
            # Forward only: an operator's replay of an older range must not rewind the schedule.
            update = "SET checkpoint = :checkpoint REMOVE lease_owner, lease_until"
            values[":checkpoint"] = {"N": str(checkpoint)}
            condition = "lease_owner = :owner AND (attribute_not_exists(checkpoint) OR checkpoint < :checkpoint)"
        else:
            condition = "lease_owner = :owner"
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"name": {"S": name}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            if checkpoint is None:
                return False
            return self.release(name, owner, None)  # the checkpoint was already further on
        return True


# -- Stripe's Events API ---------------------------------------------------------------
class EventSource(Protocol):
    calls: int

    def events(self, event_type: str, since: int, until: int) -> Iterator[dict[str, Any]]:
        """Events of one type created in [since, until], as the JSON objects Stripe delivers."""
        ...


class StripeEventSource:
    """Lists events with the Stripe library's auto-paging; backs off and resumes on 429."""

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        page_size: int = PAGE_SIZE,
        max_attempts: int = 6,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.calls = 0
        self.rate_limited = 0

    def events(self, event_type: str, since: int, until: int) -> Iterator[dict[str, Any]]:
        import stripe  # noqa: PLC0415

        last_id: str | None = None
        failures = 0
        while True:
            params: EventListParams = {
                "type": event_type,
                "created": {"gte": since, "lte": until},
                "limit": self.page_size,
            }
            if last_id is not None:
                params["starting_after"] = last_id
            try:
                self.calls += 1
                page = self.client.v1.events.list(params=params)
                for event in self._pages(page):
                    last_id = event.id
                    failures = 0
                    yield event.to_dict()
                return
            except stripe.RateLimitError:
                failures += 1
                self.rate_limited += 1
                if failures >= self.max_attempts:
                    raise
                # Stripe's advice: exponential backoff with jitter, so parallel clients spread out.
                delay = self.backoff_seconds * 2 ** (failures - 1)
                self.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not a secret

    def _pages(self, page: Any) -> Iterator[Any]:
        """auto_paging_iter, counting the request behind each further page."""
        while True:
            yield from page.data
            if not page.has_more or not page.data:
                return
            self.calls += 1
            page = page.next_page()


# -- one run ---------------------------------------------------------------------------
@dataclass
class ReconciliationRun:
    outcome: str = "ok"  # ok | busy (another run holds the lease) | partial (some events failed)
    since: int = 0
    until: int = 0
    listed: int = 0
    recovered: int = 0
    duplicates: int = 0
    in_progress: int = 0
    failed: int = 0
    api_calls: int = 0
    rate_limited: int = 0
    oldest_missed_age_seconds: int | None = None
    missed_types: dict[str, int] = field(default_factory=dict)
    unrecoverable_gap: dict[str, int] | None = None
    checkpoint: int | None = None
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


Progress = Callable[[ReconciliationRun, str], None]


class Reconciler:
    def __init__(
        self,
        source: EventSource,
        processor: WebhookProcessor,
        checkpoints: CheckpointStore,
        *,
        alerts: Alerting | None = None,
        event_types: Sequence[str],
        overlap_seconds: int = 300,
        settle_seconds: int = 120,
        lease_seconds: int = 900,
        checkpoint_name: str = CHECKPOINT_NAME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.processor = processor
        self.checkpoints = checkpoints
        self.alerts = alerts if alerts is not None else processor.alerts
        self.event_types = tuple(event_types)
        self.overlap_seconds = overlap_seconds
        self.settle_seconds = settle_seconds
        self.lease_seconds = lease_seconds
        self.checkpoint_name = checkpoint_name
        self.clock = clock

    def run(self, since: int | None = None, progress: Progress | None = None) -> ReconciliationRun:
        """Reconcile from the checkpoint (or from `since`, an operator's replay) up to now - settle."""
        now = int(self.clock())
        owner = uuid.uuid4().hex
        run = ReconciliationRun(until=now - self.settle_seconds)
        try:
            checkpoint = self.checkpoints.acquire(self.checkpoint_name, owner, now, self.lease_seconds)
        except LeaseHeld:
            run.outcome = "busy"
            stripe_log.info("Stripe reconciliation skipped: another run holds the lease")
            recorder.inc("stripe_reconciliation_runs_total", outcome=run.outcome)
            return run
        try:
            self._reconcile(run, now, since, checkpoint, progress)
        finally:
            released = self.checkpoints.release(self.checkpoint_name, owner, run.checkpoint)
            if not released:
                run.errors.append("the lease expired during the run; the checkpoint was not moved")
        if run.checkpoint is not None:
            recorder.set("stripe_reconciliation_checkpoint_age_seconds", max(0, now - run.checkpoint))
        recorder.inc("stripe_reconciliation_runs_total", outcome=run.outcome)
        recorder.inc("stripe_reconciliation_api_calls_total", run.api_calls)
        self._report(run, now)
        return run

    def _reconcile(
        self, run: ReconciliationRun, now: int, since: int | None, checkpoint: int | None, progress: Progress | None
    ) -> None:
        if since is None:
            # The first run ever starts here: events from before the bundle was deployed are
            # not "missed" (the operator replays history with --since when they want it).
            since = run.until if checkpoint is None else checkpoint - self.overlap_seconds
        horizon = now - STRIPE_EVENT_HORIZON_SECONDS + self.overlap_seconds
        if since < horizon:
            run.unrecoverable_gap = {"from": since, "to": horizon, "seconds": horizon - since}
            stripe_log.error(
                "Stripe events older than the Events API's 30 days cannot be reconciled",
                extra={"gap_from": since, "gap_to": horizon},
            )
            since = horizon
        run.since = since
        calls_before, limited_before = self.source.calls, getattr(self.source, "rate_limited", 0)
        failed_since: int | None = None
        for event_type in self.event_types:
            if progress is not None:
                progress(run, event_type)
            try:
                for event in self.source.events(event_type, since, run.until):
                    run.listed += 1
                    created = self._process(run, event, now)
                    if created is not None:
                        failed_since = created if failed_since is None else min(failed_since, created)
            except Exception as error:  # Stripe unreachable or still limiting: the next run retries
                run.errors.append(f"{event_type}: {mask_text(f'{type(error).__name__}: {error}')[:200]}")
                failed_since = since if failed_since is None else min(failed_since, since)
        self.processor.finish_batch()  # the recovered payment attempts to the card-testing window
        run.api_calls = self.source.calls - calls_before
        run.rate_limited = getattr(self.source, "rate_limited", 0) - limited_before
        if failed_since is None:
            run.checkpoint = run.until
        else:
            # Nothing is lost: the next run starts at the oldest event that did not go through.
            run.outcome = "partial"
            run.checkpoint = max(failed_since - 1, checkpoint) if checkpoint is not None else None
        if progress is not None:
            progress(run, "done")

    def _process(self, run: ReconciliationRun, event: Mapping[str, Any], now: int) -> int | None:
        """Process one listed event; returns its `created` when it failed (to be retried)."""
        created = int(event.get("created") or now)
        try:
            status = self.processor.process(json.dumps(event), source=RECONCILIATION)
        except AlreadyInProgress:  # its delivery is being processed right now: not missed
            run.in_progress += 1
            return None
        except Exception:  # logged and counted by the processor
            run.failed += 1
            return created
        if status == DUPLICATE:
            run.duplicates += 1
            return None
        run.recovered += 1
        event_type = str(event.get("type"))
        run.missed_types[event_type] = run.missed_types.get(event_type, 0) + 1
        age = max(0, now - created)
        run.oldest_missed_age_seconds = max(age, run.oldest_missed_age_seconds or 0)
        return None

    def _report(self, run: ReconciliationRun, now: int) -> None:
        summary = run.to_dict()
        if run.recovered or run.unrecoverable_gap:
            context: dict[str, Any] = {
                "count": max(run.recovered, 1),
                "recovered": run.recovered,
                "oldest_age": _duration(run.oldest_missed_age_seconds or 0),
                "oldest_age_seconds": run.oldest_missed_age_seconds or 0,
                "types": ", ".join(f"{name} x{count}" for name, count in sorted(run.missed_types.items())) or "none",
                "occurrence_id": f"reconciliation#{run.since}#{run.until}",
            }
            if run.unrecoverable_gap:
                context["unrecoverable_gap"] = _duration(run.unrecoverable_gap["seconds"])
            self.alerts.alert(MISSED, context)
            stripe_log.warning(
                "Stripe events recovered from the Events API: their webhooks never arrived", extra=summary
            )
        else:
            stripe_log.info("Stripe reconciliation: nothing missed", extra=summary)


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


def parse_since(text: str) -> int:
    """'90m', '2h', '3d' or plain seconds, as a number of seconds (the operator command's --since)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    value = text.strip().lower()
    multiplier = units.get(value[-1:])
    number = value[:-1] if multiplier else value
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"--since takes a duration such as 90m, 2h or 3d, not {text!r}")
    return int(number) * (multiplier or 1)
