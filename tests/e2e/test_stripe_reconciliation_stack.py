"""Stripe reconciliation on the whole local stack: payments made in its localstripe (which delivers no
webhook to the stack: the endpoint is, for Stripe, unreachable) are recovered by
StripeReconciliationFunction, and the operator's `monitoring-test --stripe-reconcile` replays the
range with progress and finds them already processed."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from localdev.stack import LocalStack
from tests.support.functions import ROOT
from tests.support.local_stack import local_stack

pytestmark = pytest.mark.integration

CLI = ROOT / ".venv" / "bin" / "monitoring-test"
REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    # settle 0: the payments below are seconds old, and no webhook is on its way for them
    environ = {**os.environ, "DB_DATABASE": "test", "REDIS_URL": REDIS_URL, "STRIPE_RECONCILE_SETTLE_SECONDS": "0"}
    with local_stack(environ=environ, schedules=False) as running:
        yield running


def test_the_function_recovers_payments_and_the_operator_command_replays_them(
    stack: LocalStack, tmp_path: Path
) -> None:
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": stack.stripe_url}, max_network_retries=0)
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
    method = client.v1.payment_methods.create(params={"type": "card", "card": card})
    for amount in (1500, 2500):
        client.v1.payment_intents.create(
            params={"amount": amount, "currency": "eur", "payment_method": method.id, "confirm": True}
        )
    time.sleep(1.1)  # the window ends at this second; the payments are in the one before

    result = stack.invoke("StripeReconciliationFunction", {"since": "10m"}, timeout=120)

    assert result.ok, result.error
    assert result.payload["missed_types"] == {"payment_intent.succeeded": 2}
    assert result.payload["outcome"] == "ok"

    # The operator's replay of the same range: progress per type, nothing new
    environment = {"PATH": os.environ["PATH"], **stack.environment("StripeReconciliationFunction")}
    replay = subprocess.run(
        [CLI, "--stripe-reconcile", "--since", "10m"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "... payment_intent.succeeded:" in replay.stdout
    assert "0 recovered (their webhook never arrived), 2 already processed" in replay.stdout
