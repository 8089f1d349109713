from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from platform_monitoring.core.masking import MASK, is_sensitive_key, luhn_valid, mask, mask_text, sentry_before_send
from platform_monitoring.health.service import describe_error

GUIDE_FIELDS = ["password", "stripe_secret", "api_key", "token", "card_number", "cvv", "ssn", "tax_id"]


@pytest.mark.parametrize("field", GUIDE_FIELDS)
def test_guide_fields_are_masked_at_any_depth(field: str) -> None:
    record = {"user": {"profile": [{"settings": {field: "s3cr3t-value"}}]}, field: "top-secret-value"}
    masked = mask(record)
    assert masked[field] == MASK
    assert masked["user"]["profile"][0]["settings"][field] == MASK
    assert "s3cr3t-value" not in json.dumps(masked)


@pytest.mark.parametrize(
    "key",
    [
        "db_password",
        "X-Api-Key",
        "accessToken",
        "Stripe-Signature",
        "STRIPE_SECRET",
        "cardNumber",
        "apikey",
        "x-health-check-secret",
        "Authorization",
        "user_tax_id",
    ],
)
def test_key_variants_are_sensitive(key: str) -> None:
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["user_id", "company_id", "tokens_used_count", "status", "card_brand", "message"])
def test_innocent_keys_are_not(key: str) -> None:
    assert not is_sensitive_key(key)


@pytest.mark.parametrize(
    "secret",
    [
        "sk_live_51HxAbCdEfGhIjKlMnOp",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_abcdefgh12345678",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "4242424242424242",
        "4242 4242 4242 4242",
        "5555-5555-5555-4444",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-part_123",
        "AKIAIOSFODNN7EXAMPLE",
    ],
)
def test_secret_looking_values_are_masked_under_innocent_keys(secret: str) -> None:
    masked = mask({"note": f"customer said {secret} in chat", "items": [secret]})
    text = json.dumps(masked)
    # The distinctive part of each secret is gone.
    assert secret not in text
    assert secret.replace(" ", "").replace("-", "")[-10:] not in text.replace(" ", "").replace("-", "")


def test_non_luhn_numbers_are_kept() -> None:
    assert mask_text("order 4242424242424241 shipped") == "order 4242424242424241 shipped"
    assert mask_text("took 1234 ms") == "took 1234 ms"


def test_luhn() -> None:
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("redis://:hunter2@cache.internal:6379/0", "hunter2"),
        ("mysql://app:p4ss@db:3306/app", "p4ss"),
        ("https://hooks.slack.com/services/T000/B000/XXXXSECRET", "XXXXSECRET"),
        ("slack said invalid_auth for xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp", "AbCdEfGhIjKlMnOp"),
        ("refresh xoxe.xoxp-1-Mi0yLTExMTE-abcdef123456", "Mi0yLTExMTE"),
        ("login failed password=hunter2&user=bob", "hunter2"),
        ('{"api_key": "abc123"} in text', "abc123"),
        ("https://publickey@o1.ingest.sentry.io/42", "publickey"),
    ],
)
def test_secrets_inside_free_text(text: str, hidden: str) -> None:
    assert hidden not in mask_text(text)


def test_input_is_not_modified() -> None:
    record = {"password": "x1", "nested": {"token": "t1"}}
    mask(record)
    assert record == {"password": "x1", "nested": {"token": "t1"}}


def test_sentry_before_send_masks_request_and_exception() -> None:
    event = {
        "request": {"headers": {"X-Health-Check-Secret": "hc", "Authorization": "Bearer abcdefghijkl"}},
        "exception": {"values": [{"value": "Stripe said no to sk_live_abcdefgh12345678"}]},
        "extra": {"card": "4000 0566 5566 5556"},
    }
    out = json.dumps(sentry_before_send(event, {}))
    for secret in ('hc"', "abcdefghijkl", "sk_live_abcdefgh12345678", "4000 0566 5566 5556"):
        assert secret not in out


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=8, max_size=40))
def test_property_stripe_keys_never_survive(suffix: str) -> None:
    key = f"sk_live_{suffix}"
    assert key not in mask_text(f"key={key}") and suffix not in json.dumps(mask({"x": [f"use {key} now"]}))


def _luhn_complete(prefix: str) -> str:
    for digit in "0123456789":
        if luhn_valid(prefix + digit):
            return prefix + digit
    raise AssertionError


@given(st.text(alphabet="0123456789", min_size=12, max_size=18), st.sampled_from(["", " ", "-"]))
def test_property_luhn_card_numbers_never_survive(prefix: str, separator: str) -> None:
    card = _luhn_complete(prefix)
    shown = separator.join(card[i : i + 4] for i in range(0, len(card), 4))
    masked = mask_text(f"card {shown} declined")
    assert shown not in masked
    assert card not in masked.replace(" ", "").replace("-", "")


@given(st.uuids())
def test_property_uuids_and_request_ids_are_never_altered(value: object) -> None:
    # Lambda request IDs and correlation IDs must survive masking, or logs cannot be joined.
    text = str(value)
    assert mask_text(text) == text
    assert mask_text(f"request {text} done") == f"request {text} done"


def test_a_digit_only_uuid_segment_is_not_a_card() -> None:
    request_id = "d2345678-1234-5678-8195-060000000000"
    assert mask({"function_request_id": request_id}) == {"function_request_id": request_id}


def test_a_check_message_is_masked_before_it_is_cut() -> None:
    # The message is cut at 300 characters, right before the URL's "@": cut first, then masked,
    # "redis://:hunter2secretpw" would no longer look like a URL with a password.
    url = "redis://:hunter2secretpw@cache.internal:6379/0"
    error = ConnectionError("x" * 275 + " " + url)
    message = describe_error(error)
    assert "hunter2secretpw" not in message
    assert message.startswith("ConnectionError: xxx")
