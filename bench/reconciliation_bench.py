"""Stripe reconciliation for `make bench`: Events API requests per run and events recovered per second.

localstripe (a fresh process) holds N successful payments whose webhooks never arrived (it has no
endpoint to deliver to); moto server holds the template's IdempotencyTable and
StripeReconciliationTable. One run reconciles them through the exactly-once processor; the figures
are the run's Stripe requests (counted by the event source) at N = 0, 100 and 1,000, and N over the
run's time (moto's and localstripe's speed on this machine, for scale only). A second run over the
same range must find every event already processed, and recover nothing.
"""

from __future__ import annotations

import time

import stripe
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from platform_monitoring.observability.logging import channels
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.webhooks.processor import HANDLERS, WebhookProcessor
from platform_monitoring.webhooks.reconciliation import DynamoCheckpointStore, Reconciler, StripeEventSource

from bench.webhooks_bench import quiet_logs
from localdev.services import MotoServer, StripeServer
from localdev.template import aws_client, create_resources
from tests.support.fakes import InMemoryMetricBackend

SIZES = (0, 100, 1000)


def _pay(client: stripe.StripeClient, count: int) -> None:
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    method = client.v1.payment_methods.create(params={"type": "card", "card": card})
    for index in range(count):
        client.v1.payment_intents.create(
            params={"amount": 100 + index, "currency": "eur", "payment_method": method.id, "confirm": True}
        )


def bench_reconciliation() -> None:
    print("Stripe reconciliation: Events API requests per run, events recovered per second")
    channels.set_levels({"stripe": "error", "webhooks": "error", "monitoring": "error", "performance": "error"})
    recorder.use(InMemoryMetricBackend())
    with MotoServer() as moto:
        resources = create_resources(moto.url)
        for size in SIZES:
            with StripeServer() as localstripe:
                client = stripe.StripeClient(
                    localstripe.api_key, base_addresses={"api": localstripe.url}, max_network_retries=0
                )
                since = int(time.time()) - 1
                _pay(client, size)
                time.sleep(1.1)  # the run's window ends at a second after the last payment
                dynamodb = aws_client("dynamodb", moto.url, "us-east-1")
                processor = WebhookProcessor(
                    DynamoDBPersistenceLayer(
                        table_name=resources["IdempotencyTable"]["TableName"], boto3_client=dynamodb
                    ),
                    use_local_cache=False,
                )
                reconciler = Reconciler(
                    StripeEventSource(client),
                    processor,
                    DynamoCheckpointStore(dynamodb, resources["StripeReconciliationTable"]["TableName"]),
                    event_types=tuple(HANDLERS),
                    settle_seconds=0,
                    checkpoint_name=f"bench-{size}",
                )
                with quiet_logs():  # the CloudWatch EMF line of each recovered payment
                    started = time.perf_counter()
                    run = reconciler.run(since=since)
                    seconds = time.perf_counter() - started
                    again = reconciler.run(since=since)
                recorder.buffer.drain()
                rate = f"{run.recovered / seconds:.0f} recovered/s" if run.recovered else "-"
                print(
                    f"  {size:>5} missed: {run.api_calls:>3} Stripe requests ({len(HANDLERS)} types, 100 per page), "
                    f"{run.recovered} recovered in {seconds:.2f} s ({rate}); "
                    f"second run: {again.api_calls} requests, {again.recovered} recovered, "
                    f"{again.duplicates} duplicates"
                )
                if run.recovered != size or again.recovered != 0 or again.duplicates != size:
                    raise SystemExit(f"reconciliation bench: expected {size} recovered once, got {run} then {again}")


if __name__ == "__main__":
    bench_reconciliation()
