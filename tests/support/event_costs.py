"""What one event costs in requests: each event kind through the bundle's own code, in process,
against a moto server with the template's resources, every AWS request counted on the wire.

    costs = EventCosts(aws)                    # an AwsEmulator (tests/conftest.py's `aws`)
    row = costs.payment_failed_firing()        # one measured event
    row.requests["dynamodb"], row.milliseconds

Counted with botocore's `before-send` hook (one count per HTTP request, retries included) on
the clients the objects below are built with, the same classes the functions wire in their
app.py: StripeWebhook's WebhookIngest (SQS), WebhookProcessor (Powertools idempotency on
DynamoDB, alerting on DynamoDB, SNS, the card-testing window), SecurityMonitor (DynamoDB). Redis is
counted when a counting client is given (tests/support/redis_counting.py), for the metric store and
the card-testing window (one pipeline per batch holding a payment attempt); otherwise both are in
memory.
Lambda's own SQS poller (ReceiveMessage, DeleteMessageBatch: about 2 requests per batch) is not
the function's request and not counted here; bench/cost_bench.py adds it to the bill.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from platform_monitoring.alerting.notification import SnsPublisher
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.alerting.store import DynamoAlertStore
from platform_monitoring.observability.logging import channels
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.security.events import parse_event
from platform_monitoring.security.monitor import SecurityMonitor
from platform_monitoring.security.stores import DynamoBlockStore
from platform_monitoring.webhooks.card_testing import CARD_TESTING, CardTestingDetector, CardTestingWindow, Thresholds
from platform_monitoring.webhooks.ingest import SqsEventQueue, WebhookIngest
from platform_monitoring.webhooks.processor import WebhookProcessor
from platform_monitoring.webhooks.settings import StripeWebhookSettings

from tests.support.card_testing import InMemoryCardTestingWindow
from tests.support.fakes import InMemoryMetricBackend
from tests.support.lambda_context import FakeLambdaContext
from tests.support.local_stack import AwsEmulator
from tests.support.stripe_events import serialize, sign, sqs_batch, stripe_event

SECRET = "whsec_costs"
SERVICES = ("dynamodb", "sqs", "sns")


@dataclass
class Cost:
    """The requests and the time of `events` events of one kind (per event: `per_event`)."""

    kind: str
    events: int
    requests: Counter[str] = field(default_factory=Counter)  # service -> requests
    operations: Counter[str] = field(default_factory=Counter)  # "dynamodb.PutItem" -> requests
    redis: int = 0
    milliseconds: float = 0.0

    def per_event(self, service: str) -> float:
        return (self.redis if service == "redis" else self.requests[service]) / self.events

    def describe(self) -> str:
        return ", ".join(f"{name} {count / self.events:g}" for name, count in sorted(self.operations.items()))


class WireCounter:
    """botocore's before-send on each client: one count per HTTP request."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._sent)
        return client

    def _sent(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)  # before-send.<service>.<Operation>
        self.operations[f"{service}.{operation}"] += 1

    def take(self) -> Counter[str]:
        taken, self.operations = self.operations, Counter()
        return taken


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The alerts raised here log warnings and every metric prints an EMF line: kept out of the output.
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class EventCosts:
    """The bundle's event paths, wired as the functions wire them, on counted clients."""

    def __init__(
        self,
        aws: AwsEmulator,
        redis_backend: Any = None,
        redis_trips: Callable[[], int] | None = None,
        card_testing_window: CardTestingWindow | None = None,
    ) -> None:
        channels.set_levels({name: "error" for name in ("monitoring", "webhooks", "stripe", "security", "portal")})
        self.aws, self.wire = aws, WireCounter()
        self.alerting_hours_ahead = 0  # each round of kinds starts with fresh rule windows
        self.redis_trips = redis_trips or (lambda: 0)
        recorder.use(redis_backend if redis_backend is not None else InMemoryMetricBackend())
        resources = aws.resources
        dynamodb = self.wire.attach(aws.client("dynamodb"))
        sqs, sns = self.wire.attach(aws.client("sqs")), self.wire.attach(aws.client("sns"))
        queue_url = resources["WebhooksQueue"]["QueueUrl"]
        settings = StripeWebhookSettings.from_env({"STRIPE_WEBHOOK_SECRET": SECRET, "WEBHOOKS_QUEUE_URL": queue_url})
        self.ingest = WebhookIngest(settings, SqsEventQueue(sqs, queue_url))
        self.alerting = AlertingService(
            RuleSet.load(),
            DynamoAlertStore(
                dynamodb,
                resources["AlertsTable"]["TableName"],
                resources["AlertWindowsTable"]["TableName"],
                resources["AlertSilencesTable"]["TableName"],
            ),
            SnsPublisher(sns, resources["AlertsTopic"]["Arn"]),
            clock=self._alerting_clock,
        )
        self._dynamodb = dynamodb
        self.card_testing_window = card_testing_window or InMemoryCardTestingWindow()
        self.processor = self._processor()
        self.security = SecurityMonitor(
            DynamoBlockStore(
                dynamodb, resources["SecurityBlocksTable"]["TableName"], resources["SecurityWindowsTable"]["TableName"]
            ),
            alerts=self.alerting,
        )
        self._ip = 0

    def _alerting_clock(self) -> float:
        return time.time() + 3600 * self.alerting_hours_ahead

    def _processor(self) -> WebhookProcessor:
        table = self.aws.resources["IdempotencyTable"]["TableName"]
        rule = self.alerting.rules[CARD_TESTING]
        detector = CardTestingDetector(
            self.card_testing_window, Thresholds.of(rule.window_seconds, rule.params), self.alerting
        )
        return WebhookProcessor(
            DynamoDBPersistenceLayer(table_name=table, boto3_client=self._dynamodb),
            alerts=self.alerting,
            card_testing=detector,
        )

    # -- measuring ---------------------------------------------------------------
    def measure(self, kind: str, events: int, run: Callable[[], None]) -> Cost:
        self.wire.take()
        trips = self.redis_trips()
        started = time.perf_counter()
        with _quiet():
            run()
            recorder.flush()  # the invocation's metric writes, as @instrument flushes them
        elapsed = (time.perf_counter() - started) * 1000
        operations = self.wire.take()
        requests: Counter[str] = Counter()
        for operation, count in operations.items():
            requests[operation.split(".")[0]] += count
        return Cost(kind, events, requests, operations, self.redis_trips() - trips, elapsed / events)

    def deliver(self, *payloads: str) -> None:
        """Each payload through the ingest (signed, queued) and then the processor as one SQS batch."""
        for payload in payloads:
            headers = {"Stripe-Signature": sign(payload, SECRET), "Content-Type": "application/json"}
            self.ingest.receive(headers, payload.encode())
        self.process(*payloads)

    def process(self, *payloads: str) -> None:
        response = self.processor.handle_batch(sqs_batch(payloads), FakeLambdaContext())
        assert response == {"batchItemFailures": []}, response

    # -- the event kinds -----------------------------------------------------------
    @staticmethod
    def payment(succeeded: bool) -> str:
        return serialize(stripe_event("payment_intent.succeeded" if succeeded else "payment_intent.payment_failed"))

    def payment_succeeded(self, batch: int = 1) -> Cost:
        payloads = [self.payment(True) for _ in range(batch)]
        kind = "payment succeeded" + (f" (batch of {batch})" if batch > 1 else "")
        return self.measure(kind, batch, lambda: self.deliver(*payloads))

    def payment_failures(self) -> list[Cost]:
        """Below the threshold (the 1st and 2nd), the one that fires (the 3rd), a repeat while
        firing (the 4th), and a duplicate delivery of the 4th (a redelivered SQS message)."""
        self.alerting_hours_ahead += 1  # past every window and throttle period of a round before
        first, second, third, fourth = (self.payment(False) for _ in range(4))
        rows = [
            self.measure("payment failed, below the threshold", 1, lambda: self.deliver(first)),
        ]
        with _quiet():
            self.deliver(second)
        rows.append(self.measure("payment failed, the one that fires", 1, lambda: self.deliver(third)))
        rows.append(self.measure("payment failed, repeat while firing", 1, lambda: self.deliver(fourth)))
        # A redelivery usually reaches another instance, without the first one's local cache.
        self.processor = self._processor()
        rows.append(self.measure("duplicate delivery", 1, lambda: self.process(fourth)))
        return rows

    def _security_event(self, kind: str, ip: str) -> Any:
        return parse_event({"type": kind, "ip": ip, "occurred_at": datetime.now(UTC).isoformat()})

    def security_events(self) -> list[Cost]:
        """A failed login below the blocking threshold, and the one that blocks its IP."""
        self.alerting_hours_ahead += 1
        self._ip += 1
        ip = f"198.51.100.{self._ip}"
        rows = [
            self.measure("security event", 1, lambda: self.security.record(self._security_event("failed_login", ip)))
        ]
        for _ in range(3):
            with _quiet():
                self.security.record(self._security_event("failed_login", ip))
        rows.append(
            self.measure(
                "blocking security event", 1, lambda: self.security.record(self._security_event("failed_login", ip))
            )
        )
        return rows
