"""`make bench`, cost per event: the requests each event kind makes, counted on the wire
(tests/support/event_costs.py: the bundle's own classes on counted clients, a moto server with the
template's resources, the machine's Redis for the metric store), priced per million events at
AWS's public on-demand prices for us-east-1.

The request counts are exact (tests/component/test_requests_per_event.py asserts them). The Lambda
milliseconds are this machine's, in process, against moto server and a local Redis (so they include
moto's latency, which is higher than DynamoDB's): a scale for the compute line of the bill, not a
forecast. DynamoDB request units assume items under 1 KB (every write 1 WRU, a transaction item 2,
every read or COUNT query 1 RRU, an upper bound: an index query is 0.5); alert records with a large
context cost up to 4 WRU per write. Redis (ElastiCache) is billed per node-hour, not per request.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_REDIS_URL = "redis://127.0.0.1:6379/11"
ROUNDS = 5  # each kind measured this many times; the median of the milliseconds is priced

# Public on-demand prices, us-east-1, USD (no free tier). Read from the pages below as published in
# 2024-11 (DynamoDB's on-demand price cut of 2024-11-01); this bench has no network access to
# re-read them, so check the pages before quoting a bill.
PRICES_AS_OF = "2024-11 (pages as published then; re-check before quoting)"
PRICES = {
    "api_gateway_rest_request": (3.50e-6, "https://aws.amazon.com/api-gateway/pricing/ (REST API, first 333M)"),
    "lambda_request": (0.20e-6, "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_second": (0.0000166667, "https://aws.amazon.com/lambda/pricing/ (x86)"),
    "sqs_request": (0.40e-6, "https://aws.amazon.com/sqs/pricing/ (standard queue, 64 KB chunk)"),
    "dynamodb_wru": (0.625e-6, "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "dynamodb_rru": (0.125e-6, "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "sns_publish": (0.50e-6, "https://aws.amazon.com/sns/pricing/ (standard topic, per publish)"),
}
MEMORY_GB = 0.5  # Globals: MemorySize 512 in template.yaml
COMPUTE_BUDGET_MS = 50  # per ordinary webhook, ingest and processing together
# Lambda's SQS poller: one ReceiveMessage per batch and one DeleteMessageBatch per batch.
POLLER_REQUESTS_PER_BATCH = 2

WRITE_UNITS = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1, "TransactWriteItems": 4, "BatchWriteItem": 1}
READ_UNITS = {"GetItem": 1, "Query": 1, "Scan": 1}


@dataclass(frozen=True)
class Priced:
    kind: str
    dynamodb: float
    sqs: float
    sns: float
    redis: float
    milliseconds: float
    wru: float
    rru: float
    per_million: float


def price(cost: Any, milliseconds: float, *, api: bool, invocations: float, batch: int, queued: bool) -> Priced:
    per = cost.events
    wru = sum(WRITE_UNITS.get(op.split(".")[1], 0) * n for op, n in cost.operations.items() if op[:8] == "dynamodb")
    rru = sum(READ_UNITS.get(op.split(".")[1], 0) * n for op, n in cost.operations.items() if op[:8] == "dynamodb")
    sqs = cost.requests["sqs"] / per + (POLLER_REQUESTS_PER_BATCH / batch if queued else 0)
    usd = (
        (PRICES["api_gateway_rest_request"][0] if api else 0)
        + invocations * PRICES["lambda_request"][0]
        + milliseconds / 1000 * MEMORY_GB * PRICES["lambda_gb_second"][0]
        + sqs * PRICES["sqs_request"][0]
        + wru / per * PRICES["dynamodb_wru"][0]
        + rru / per * PRICES["dynamodb_rru"][0]
        + cost.requests["sns"] / per * PRICES["sns_publish"][0]
    )
    return Priced(
        cost.kind,
        cost.requests["dynamodb"] / per,
        sqs,
        cost.requests["sns"] / per,
        cost.redis / per,
        milliseconds,
        wru / per,
        rru / per,
        usd * 1e6,
    )


def bench_costs(redis_url: str | None = BENCH_REDIS_URL, rounds_count: int = ROUNDS) -> None:
    """redis_url None: metrics in memory, Redis requests not counted (a smoke run without Redis)."""
    sys.path.insert(0, str(ROOT))
    import redis
    from platform_monitoring.observability.store import RedisMetricBackend
    from platform_monitoring.webhooks.card_testing import RedisCardTestingWindow

    from bench import summary
    from tests.support.event_costs import EventCosts
    from tests.support.local_stack import aws_emulator
    from tests.support.redis_counting import RoundTripCounter, counting_client

    trips = RoundTripCounter()
    backend = window = None
    if redis_url is not None:
        RedisMetricBackend(redis.Redis.from_url(redis_url)).clear()
        # the metric store and the card-testing window (one pipeline per batch), counted alike
        backend, window = (
            RedisMetricBackend(counting_client(redis_url, trips)),
            RedisCardTestingWindow(counting_client(redis_url, trips)),
        )
    rounds: dict[str, list[Any]] = {}
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with aws_emulator() as aws:
        costs = EventCosts(
            aws,
            backend,
            redis_trips=lambda: sum(1 for trip in trips.trips if not trip.handshake),
            card_testing_window=window,
        )
        for _ in range(rounds_count):
            rows = [costs.payment_succeeded(), costs.payment_succeeded(10), *costs.payment_failures()]
            rows += costs.security_events()
            for row in rows:
                rounds.setdefault(row.kind, []).append(row)
    if redis_url is not None:
        RedisMetricBackend(redis.Redis.from_url(redis_url)).clear()

    priced: list[Priced] = []
    for kind, measured in rounds.items():
        last = measured[-1]  # the counts are the same every round (asserted in the component test)
        milliseconds = statistics.median(row.milliseconds for row in measured)
        webhook = not kind.startswith(("security", "blocking"))
        batch = 10 if "batch" in kind else 1
        duplicate = kind == "duplicate delivery"
        invocations = (0 if duplicate else 1) + 1 / batch if webhook else 1  # ingest, then the processor
        priced.append(
            price(
                last, milliseconds, api=webhook and not duplicate, invocations=invocations, batch=batch, queued=webhook
            )
        )
    scrape = _scrape_row()
    print(f"Cost per event: requests counted on the wire, priced at us-east-1 on-demand prices ({PRICES_AS_OF})")
    print(
        f"  {'event kind':<40} {'DynamoDB':>8} {'(WRU':>5} {'RRU)':>5} {'SQS':>5} {'SNS':>4} {'Redis':>5}"
        f" {'Lambda ms':>9} {'$ per 1M':>9}"
    )
    for row in [*priced, *([scrape] if scrape else [])]:
        print(
            f"  {row.kind:<40} {row.dynamodb:8.1f} {row.wru:5.1f} {row.rru:5.1f} {row.sqs:5.1f} {row.sns:4.1f}"
            f" {row.redis:5.1f} {row.milliseconds:9.1f} {row.per_million:9.2f}"
        )
    print("  webhook kinds: API Gateway request, the ingest function and the processor (one batch of 1, or of 10),")
    print("  and Lambda's SQS poller (2 requests a batch); a duplicate is a redelivery (processor only); security")
    print("  events are the processor's work. Lambda ms are this machine's against moto server: a scale, not AWS.")
    print("  prices: " + "; ".join(f"{name} ${value:g} {page}" for name, (value, page) in PRICES.items()))

    by_kind = {row.kind: row for row in priced}
    repeat, fires = by_kind["payment failed, repeat while firing"], by_kind["payment succeeded"]
    alerting_requests = repeat.dynamodb - fires.dynamodb  # the same event minus the idempotency writes
    summary.record(
        "DynamoDB requests per occurrence while firing", f"{alerting_requests:g}", "<= 1", alerting_requests <= 1
    )
    batch = by_kind["payment succeeded (batch of 10)"]
    summary.record("DynamoDB requests per webhook in a batch of 10", f"{batch.dynamodb:g}", "<= 2", batch.dynamodb <= 2)
    # The goal: the bill's floor (the requests an ordinary webhook cannot avoid: API Gateway, two
    # idempotency writes, a queue message and its share of the poller, two Lambda invocations' share)
    # plus a compute budget of COMPUTE_BUDGET_MS at 512 MB.
    floor = (
        PRICES["api_gateway_rest_request"][0]
        + 1.1 * PRICES["lambda_request"][0]
        + 2 * PRICES["dynamodb_wru"][0]
        + (1 + POLLER_REQUESTS_PER_BATCH / 10) * PRICES["sqs_request"][0]
    )
    goal = (floor + COMPUTE_BUDGET_MS / 1000 * MEMORY_GB * PRICES["lambda_gb_second"][0]) * 1e6
    summary.record(
        "cost per million webhooks",
        f"${batch.per_million:.2f} (batches of 10)",
        f"<= ${goal:.2f} (the requests' floor + {COMPUTE_BUDGET_MS} ms at 512 MB)",
        batch.per_million <= goal,
    )
    scans = [row for row in rounds.values() if row[-1].operations["dynamodb.Scan"]]
    summary.record("Scans on an event's path", str(len(scans)), "0", not scans)


def _scrape_row() -> Priced | None:
    """A scrape at 10k series, from the metric store bench of this run (one Redis round trip)."""
    from bench import metrics_bench

    result = next((r for r in metrics_bench.RESULTS if r.series == 10_000), None)
    if result is None:
        return None
    usd = PRICES["api_gateway_rest_request"][0] + PRICES["lambda_request"][0]
    usd += result.render_ms / 1000 * MEMORY_GB * PRICES["lambda_gb_second"][0]
    return Priced("scrape at 10k series", 0, 0, 0, result.scrape_round_trips, result.render_ms, 0, 0, usd * 1e6)
