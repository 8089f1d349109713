"""The API functions' failed-authentication reporter (wiring/refusals.py, wiring/events.py) is built with
its SQS client when the first refusal is reported, not at cold start: a function that refuses nothing
pays nothing for it."""

from __future__ import annotations

from typing import Any

import pytest
from platform_monitoring.core import clients
from platform_monitoring.security.settings import SecuritySettings
from platform_monitoring.wiring import events as events_wiring
from platform_monitoring.wiring import refusals as refusals_wiring

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/SecurityEventsQueue"


class RecordingSqs:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        assert QueueUrl == QUEUE
        self.batches.append(Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def test_the_sqs_client_is_built_at_the_first_refusal_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sqs = RecordingSqs()
    built: list[float] = []

    def sqs_client(timeout: float) -> RecordingSqs:
        built.append(timeout)
        return sqs

    monkeypatch.setattr(clients, "sqs_client", sqs_client)
    monkeypatch.setattr(events_wiring, "_reporter", None)
    monkeypatch.setattr(refusals_wiring, "_hook", None)
    reported: list[Any] = []
    monkeypatch.setattr(refusals_wiring, "on_failed_authentication", reported.append)

    refusals_wiring.report_failed_authentications(SecuritySettings.from_env({"SECURITY_EVENTS_QUEUE_URL": QUEUE}))
    assert built == [] and events_wiring._reporter is None  # cold start: neither reporter nor client
    [reporter] = reported

    refused = {"requestContext": {"identity": {"sourceIp": "203.0.113.9"}}, "resource": "/api/metrics"}
    reporter(refused, "unauthorized")
    reporter(refused, "unauthorized")

    assert built == [events_wiring.REFUSAL_REPORT_TIMEOUT_SECONDS]
    assert len(sqs.batches) == 2 and '"failed_authentication"' in sqs.batches[0][0]["MessageBody"]


def test_without_a_queue_nothing_is_reported_and_that_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(events_wiring, "_reporter", None)
    monkeypatch.setattr(events_wiring, "_unconfigured_said", False)
    monkeypatch.setattr(clients, "sqs_client", lambda timeout: pytest.fail("no queue, no client"))
    hook = refusals_wiring._AtFirstRefusal(SecuritySettings.from_env({}))
    refused = {"requestContext": {"identity": {"sourceIp": "203.0.113.9"}}}
    hook(refused, "unauthorized")
    hook(refused, "unauthorized")
    assert caplog.text.count("failed authentications are not counted") == 1
