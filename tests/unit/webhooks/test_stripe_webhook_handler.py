"""StripeWebhookFunction: only a correctly signed, fresh Stripe event reaches the queue; every refusal
is JSON that echoes nothing sent."""

from __future__ import annotations

import base64
import json
import time
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from localdev.stripe_sign import resign
from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.logs import captured_channel
from tests.support.stripe_events import InMemoryQueue, api_gateway_event, serialize, sign, stripe_event

SECRET = "whsec_unit_current"
OLD_SECRET = "whsec_unit_previous"
ENV = {
    "STRIPE_WEBHOOK_SECRET": SECRET,
    "WEBHOOKS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/WebhooksQueue",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "STRIPE_WEBHOOK_TOLERANCE_SECONDS": None,
    "STRIPE_WEBHOOK_MAX_BYTES": None,
    "SENTRY_LARAVEL_DSN": None,
    "SENTRY_DSN": None,
}


def load(**env: str | None) -> tuple[ModuleType, InMemoryQueue]:
    module = cold_start("stripe_webhook", {**ENV, **env})
    queue = InMemoryQueue()
    module.ingest.queue = queue
    return module, queue


@pytest.fixture
def webhook() -> tuple[ModuleType, InMemoryQueue]:
    return load()


def post(module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def signed(payload: str, *secrets: str, timestamp: int | None = None, **kwargs: Any) -> dict[str, Any]:
    return api_gateway_event(payload, sign(payload, *(secrets or (SECRET,)), timestamp=timestamp), **kwargs)


@pytest.fixture
def payload() -> str:
    return serialize(stripe_event("payment_intent.succeeded", event_id="evt_unit_0001"))


def test_a_signed_event_is_queued_as_sent_and_answered_200(
    webhook: tuple[ModuleType, InMemoryQueue], payload: str
) -> None:
    module, queue = webhook
    status, body = post(module, signed(payload))
    assert (status, body) == (200, {"received": True})
    assert queue.messages == [
        (
            payload,
            {
                "stripe_event_id": "evt_unit_0001",
                "stripe_event_type": "payment_intent.succeeded",
                "correlation_id": "c6af9ac6-7b61-11e6-9a41-93e8de0a0001",
            },
        )
    ]


def refusal(module: ModuleType, event: dict[str, Any], queue: InMemoryQueue) -> tuple[int, str, str]:
    """Status, error code and raw body of a refused request, having checked nothing was queued."""
    queued = len(queue.messages)
    response = module.lambda_handler(event, FakeLambdaContext())
    body = json.loads(response["body"])
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert len(queue.messages) == queued
    return response["statusCode"], body["error"]["code"], response["body"]


def test_a_tampered_body_is_refused(webhook: tuple[ModuleType, InMemoryQueue], payload: str) -> None:
    module, queue = webhook
    event = signed(payload)
    event["body"] = payload.replace('"amount": 1099', '"amount": 9999')
    assert event["body"] != payload
    assert refusal(module, event, queue)[:2] == (400, "invalid_signature")


def test_a_signature_made_with_another_secret_is_refused(
    webhook: tuple[ModuleType, InMemoryQueue], payload: str
) -> None:
    module, queue = webhook
    assert refusal(module, signed(payload, "whsec_someone_else"), queue)[:2] == (400, "invalid_signature")


def test_an_old_timestamp_is_refused_and_the_tolerance_is_configurable(payload: str) -> None:
    module, queue = load()
    now = int(time.time())
    assert refusal(module, signed(payload, timestamp=now - 301), queue)[:2] == (400, "signature_expired")
    assert post(module, signed(payload, timestamp=now - 290))[0] == 200

    strict, strict_queue = load(STRIPE_WEBHOOK_TOLERANCE_SECONDS="60")
    assert refusal(strict, signed(payload, timestamp=now - 90), strict_queue)[:2] == (400, "signature_expired")


def test_rotation_accepts_the_new_and_the_old_secret_and_flags_the_old(payload: str) -> None:
    module, queue = load(STRIPE_WEBHOOK_SECRET=f"{SECRET}, {OLD_SECRET}")
    assert post(module, signed(payload, SECRET))[0] == 200
    with captured_channel("webhooks") as output:
        assert post(module, signed(payload, OLD_SECRET))[0] == 200
    assert "so the rotation is not finished" in output.getvalue()
    assert len(queue.messages) == 2
    assert refusal(module, signed(payload, "whsec_retired"), queue)[:2] == (400, "invalid_signature")


def test_several_v1_signatures_pass_when_one_matches(webhook: tuple[ModuleType, InMemoryQueue], payload: str) -> None:
    module, queue = webhook
    # What Stripe sends while the endpoint's secret is being rolled: one v1 per active secret.
    assert post(module, signed(payload, "whsec_not_ours", SECRET))[0] == 200
    assert post(module, signed(payload, SECRET, "whsec_not_ours"))[0] == 200
    assert len(queue.messages) == 2


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("garbage", "malformed_signature"),
        ("t=soon,v1=abc", "malformed_signature"),
        (f"t={int(time.time())}", "malformed_signature"),
        (f"t={int(time.time())},v0=abc", "malformed_signature"),
        (f"t={int(time.time())},v1=" + "0" * 64, "invalid_signature"),
    ],
)
def test_missing_or_malformed_signatures_are_400_and_echo_nothing(
    webhook: tuple[ModuleType, InMemoryQueue], payload: str, header: str | None, code: str
) -> None:
    module, queue = webhook
    status, got, raw = refusal(module, api_gateway_event(payload, header), queue)
    assert (status, got) == (400, code)
    for echoed in (header or "", "evt_unit_0001", SECRET, "payment_intent"):
        if echoed:
            assert echoed not in raw


def test_a_body_over_the_limit_is_413(payload: str) -> None:
    module, queue = load(STRIPE_WEBHOOK_MAX_BYTES=str(len(payload.encode())))
    assert post(module, signed(payload))[0] == 200
    bigger = payload.replace('"livemode": false', '"livemode": false ')
    assert refusal(module, signed(bigger), queue)[:2] == (413, "payload_too_large")
    assert len(queue.messages) == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(
    webhook: tuple[ModuleType, InMemoryQueue], payload: str, content_type: str | None
) -> None:
    module, queue = webhook
    assert refusal(module, signed(payload, content_type=content_type), queue)[:2] == (415, "unsupported_media_type")


def test_json_media_type_is_matched_without_case_or_parameters(
    webhook: tuple[ModuleType, InMemoryQueue], payload: str
) -> None:
    module, _ = webhook
    assert post(module, signed(payload, content_type="Application/JSON"))[0] == 200
    assert post(module, signed(payload, content_type="application/json;charset=UTF-8"))[0] == 200


@pytest.mark.parametrize("secret", [None, "", " , "])
def test_without_a_secret_the_endpoint_refuses_everything(payload: str, secret: str | None) -> None:
    module, queue = load(STRIPE_WEBHOOK_SECRET=secret)
    for event in (signed(payload), signed(payload, "anything"), api_gateway_event(payload, None)):
        assert refusal(module, event, queue)[:2] == (503, "not_configured")


def test_queue_unavailable_is_503_so_stripe_retries(payload: str) -> None:
    module, _ = load()
    module.ingest.queue = InMemoryQueue(fail=True)
    with captured_channel("webhooks") as output:
        status, body = post(module, signed(payload))
    assert (status, body["error"]["code"]) == (503, "queue_unavailable")
    assert "hunter2" not in output.getvalue()
    assert "evt_unit_0001" in output.getvalue()  # the log says which event Stripe will resend


@pytest.mark.parametrize("body", ["[]", '{"id": "evt_1"}', '{"id": "cus_1", "type": "x"}', "not json"])
def test_signed_but_not_a_stripe_event_is_400(webhook: tuple[ModuleType, InMemoryQueue], body: str) -> None:
    module, queue = webhook
    assert refusal(module, signed(body), queue)[:2] == (400, "invalid_event")


def test_a_base64_encoded_body_is_verified_on_its_bytes(
    webhook: tuple[ModuleType, InMemoryQueue], payload: str
) -> None:
    module, queue = webhook
    event = signed(payload)
    event["body"], event["isBase64Encoded"] = base64.b64encode(payload.encode()).decode(), True
    assert post(module, event)[0] == 200
    assert queue.messages[0][0] == payload


def test_logs_never_hold_the_secret_or_the_signature(webhook: tuple[ModuleType, InMemoryQueue], payload: str) -> None:
    module, _ = webhook
    event = signed(payload)
    with captured_channel("webhooks") as output:
        post(module, event)
        post(module, signed(payload, "whsec_wrong"))
    text = output.getvalue()
    assert "Stripe webhook queued" in text and "Stripe webhook refused" in text
    assert SECRET not in text
    assert event["headers"]["Stripe-Signature"].split("v1=")[1] not in text


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0), replacement=st.characters(codec="ascii"))
def test_any_change_to_a_signed_body_never_reaches_the_queue(position: int, replacement: str) -> None:
    module, queue = load()
    payload = serialize(stripe_event("charge.refunded", event_id="evt_unit_prop"))
    index = position % len(payload)
    changed = payload[:index] + replacement + payload[index + 1 :]
    event = signed(payload)
    event["body"] = changed
    status = module.lambda_handler(event, FakeLambdaContext())["statusCode"]
    assert (status == 200) == (changed == payload)
    assert len(queue.messages) == (1 if changed == payload else 0)


@pytest.mark.parametrize("name", ["stripe_webhook_payment_intent_succeeded.json", "stripe_webhook_unknown_type.json"])
def test_the_sample_events_are_signed_with_the_local_secret(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    event = load_event(name)
    timestamp = int(event["headers"]["Stripe-Signature"].split(",")[0].removeprefix("t="))
    module, queue = load(STRIPE_WEBHOOK_SECRET="whsec_local")
    assert post(module, event)[1]["error"]["code"] == "signature_expired"  # signed long ago
    import stripe._webhook

    monkeypatch.setattr(stripe._webhook.time, "time", lambda: timestamp + 10.0)
    assert post(module, event) == (200, {"received": True})
    assert queue.messages[0][0] == event["body"]


def test_make_webhook_re_signs_a_sample_event_so_it_is_accepted_now() -> None:
    event = resign(load_event("stripe_webhook_dispute_created.json"), "whsec_local", new_id=True)
    module, queue = load(STRIPE_WEBHOOK_SECRET="whsec_local")
    assert post(module, event) == (200, {"received": True})
    assert queue.messages[0][1]["stripe_event_id"].startswith("evt_local_")
    assert event["multiValueHeaders"]["Stripe-Signature"] == [event["headers"]["Stripe-Signature"]]
