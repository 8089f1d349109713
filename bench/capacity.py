"""The capacity model's simulation (docs/capacity.md): what each DynamoDB table and partition key
sees at the model's rates, from requests the bundle really sends.

    .venv/bin/python -m bench.capacity          # a moto server of its own; no Redis, no MySQL

1. A card-testing burst through AlertingService on moto server, on a simulated clock: one whole
   throttle period of payment_failure occurrences (sped up: SIMULATED_RATE a second of simulated
   time; the requests per occurrence do not depend on the rate) with every DynamoDB request
   recorded with its table and partition key (botocore's before-parameter-build hook).
2. The webhook path's requests per event (tests/support/event_costs.py), multiplied by the rates.
3. Each table's and hottest partition key's request units per second at the model's rates, beside
   DynamoDB's per-partition ceilings (1,000 WRU/s, 3,000 RRU/s), and the account quotas.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

WEBHOOKS_PER_SECOND = 10_000 / 60
DECLINES_PER_SECOND = 100_000 / 3600
SIMULATED_RATE = 2.0  # occurrences per simulated second in the simulation (scaled up afterwards)
PARTITION_WRU, PARTITION_RRU = 1_000, 3_000
WINDOW_ITEM_BYTES = 90  # an occurrence item: pk, sk (15 digits + 32 hex), expires_at
STRIPE_ROUTE_RATE = 50  # template.yaml MethodSettings for POST /api/webhooks/stripe


class PartitionRecorder:
    """(table, partition key) -> write and read request counts, from each request's parameters."""

    def __init__(self) -> None:
        self.writes: Counter[tuple[str, str]] = Counter()
        self.reads: Counter[tuple[str, str]] = Counter()

    def __call__(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                (action,) = item.values()
                self.writes[(action["TableName"], _key(action))] += 2  # a transaction item: 2 WRU
        elif operation in {"PutItem", "UpdateItem", "DeleteItem"}:
            self.writes[(params["TableName"], _key(params))] += 1
        elif operation in {"GetItem", "Query", "Scan"}:
            table = params["TableName"] + (f"/{params['IndexName']}" if "IndexName" in params else "")
            self.reads[(table, _key(params))] += 1

    def take(self) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
        taken = self.writes, self.reads
        self.writes, self.reads = Counter(), Counter()
        return taken


def _key(params: dict[str, Any]) -> str:
    source = params.get("Key") or params.get("Item")
    if source:
        name = "pk" if "pk" in source else next(iter(source))
        return str(next(iter(source[name].values())))
    values = params.get("ExpressionAttributeValues") or {}
    for name in (":pk", ":type"):
        if name in values:
            return str(next(iter(values[name].values())))
    return "(scan)"


def simulate_burst(aws: Any) -> tuple[int, Counter[tuple[str, str]], Counter[tuple[str, str]], Counter[str]]:
    """One throttle period and a bit of payment_failure occurrences on a simulated clock."""
    from platform_monitoring.alerting.notification import SnsPublisher
    from platform_monitoring.alerting.rules import RuleSet
    from platform_monitoring.alerting.service import AlertingService
    from platform_monitoring.alerting.store import DynamoAlertStore

    from tests.support.alerting import Clock

    rules = RuleSet.load()
    rule = rules["payment_failure"]
    dynamodb = aws.client("dynamodb")
    recorder = PartitionRecorder()
    dynamodb.meta.events.register("before-parameter-build.dynamodb", recorder)
    clock = Clock()
    store = DynamoAlertStore(dynamodb, "AlertsTable", "AlertWindowsTable", "AlertSilencesTable")
    alerting = AlertingService(
        rules, store, SnsPublisher(aws.client("sns"), aws.resources["AlertsTopic"]["Arn"]), clock=clock
    )
    outcomes: Counter[str] = Counter()
    occurrences = int((rule.throttle_seconds + 60) * SIMULATED_RATE)
    with contextlib.redirect_stdout(io.StringIO()):
        for index in range(occurrences):
            clock.at(index / SIMULATED_RATE)
            outcomes[alerting.alert("payment_failure", {"occurrence_id": f"evt_{index}"}).outcome] += 1
    writes, reads = recorder.take()
    return occurrences, writes, reads, outcomes


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from platform_monitoring.alerting.rules import RuleSet

    from tests.support.event_costs import EventCosts
    from tests.support.local_stack import aws_emulator

    rule = RuleSet.load()["payment_failure"]
    with aws_emulator() as aws:
        costs = EventCosts(aws)
        ordinary = costs.payment_succeeded(10)
        occurrences, writes, reads, outcomes = simulate_burst(aws)

    window_items = DECLINES_PER_SECOND * rule.window_ms / 1000
    count_query_rru = max(1.0, window_items * WINDOW_ITEM_BYTES / 4096)
    print(
        f"Capacity model: {WEBHOOKS_PER_SECOND:.0f} webhooks/s, "
        f"a card-testing burst of {DECLINES_PER_SECOND:.1f} declines/s"
    )
    print(
        f"  burst simulated: {occurrences} payment_failure occurrences over one throttle period + 60 s: "
        + ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items()))
    )
    print("  DynamoDB at the burst's rate (units/s), per partition key (ceilings: 1,000 WRU/s, 3,000 RRU/s):")
    for (table, key), count in sorted(writes.items(), key=lambda kv: -kv[1]):
        per_second = count / occurrences * DECLINES_PER_SECOND
        print(f"    {table:<20} {key:<28} {per_second:8.1f} WRU/s   {per_second / PARTITION_WRU:6.1%} of a partition")
    for (table, key), count in sorted(reads.items(), key=lambda kv: -kv[1]):
        per_second = count / occurrences * DECLINES_PER_SECOND
        units = per_second * (count_query_rru if table == "AlertWindowsTable" else 1)
        print(
            f"    {table:<20} {key:<28} {units:8.1f} RRU/s   {units / PARTITION_RRU:6.1%} of a partition"
            f"   ({per_second:.2f} requests/s)"
        )
    idempotency = ordinary.per_event("dynamodb") * WEBHOOKS_PER_SECOND
    print(f"  IdempotencyTable: {idempotency:.0f} WRU/s over one key per event (spread over partitions)")
    print(f"  a window COUNT query at this rate reads {window_items:,.0f} items ({count_query_rru:.0f} RRU) each time;")
    print(
        "  before issue 17 every occurrence paid it: "
        f"{DECLINES_PER_SECOND * count_query_rru:,.0f} RRU/s on one partition key "
        f"({DECLINES_PER_SECOND * count_query_rru / PARTITION_RRU:.0%} of a partition's ceiling)"
    )
    print(
        f"  API Gateway: POST /api/webhooks/stripe is throttled at {STRIPE_ROUTE_RATE}/s in template.yaml; the model's "
        f"{WEBHOOKS_PER_SECOND:.0f}/s is {WEBHOOKS_PER_SECOND / STRIPE_ROUTE_RATE:.1f}x that: the first limit to break"
    )


if __name__ == "__main__":
    main()
