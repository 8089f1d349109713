"""The invocation's Sentry transaction: one per invocation, named by route, whether `instrument`
opens it or AwsLambdaIntegration (the Lambda runtime) did; nothing at all while Sentry is off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from platform_monitoring.observability import sentry
from platform_monitoring.observability.invocation import instrument
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from tests.support.lambda_context import FakeLambdaContext


class Recording(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.transactions: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.transactions += [item.payload.json for item in envelope.items if item.type == "transaction"]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recording]:
    transport = Recording()
    client = sentry_sdk.Client(
        "http://key@127.0.0.1:9/1", traces_sample_rate=1.0, default_integrations=False, transport=transport
    )
    monkeypatch.setattr(sentry, "_sentry_started", True)
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        yield transport
    client.close()


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 503, "body": "{}"}


API_EVENT = {"httpMethod": "GET", "resource": "/api/health", "path": "/api/health", "headers": {}}


def test_an_api_invocation_is_one_transaction_named_by_its_route(recorded: Recording) -> None:
    handler(API_EVENT, FakeLambdaContext())

    [transaction] = recorded.transactions
    assert transaction["transaction"] == "GET /api/health"
    assert transaction["transaction_info"] == {"source": "route"}
    assert transaction["contexts"]["trace"]["op"] == "function.aws"
    assert transaction["contexts"]["trace"]["data"]["http.response.status_code"] == 503


def test_a_transaction_open_already_is_the_invocations_renamed(recorded: Recording) -> None:
    with sentry_sdk.start_transaction(op="function.aws", name="HealthFunction"):  # as AwsLambdaIntegration
        handler(API_EVENT, FakeLambdaContext())

    [transaction] = recorded.transactions
    assert transaction["transaction"] == "GET /api/health"


def test_an_event_without_a_route_is_named_by_its_function(recorded: Recording) -> None:
    handler({"detail-type": "Scheduled Event"}, FakeLambdaContext(function_name="ScheduledChecksFunction"))

    assert [t["transaction"] for t in recorded.transactions] == ["ScheduledChecksFunction"]


def test_with_sentry_off_nothing_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentry, "_sentry_started", False)

    with sentry.invocation_transaction("GET /api/health") as transaction:
        assert transaction is None
        assert sentry_sdk.get_current_span() is None
