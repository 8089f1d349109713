"""Bad input at every API handler, through the handlers' own entry points with API Gateway proxy
events: malformed and hostile bodies, wrong types, huge values, base64 bodies (valid and not),
invalid UTF-8, deep nesting, NaN/Infinity literals, duplicated keys, control characters and
header injection. Every answer is a 4xx JSON error with a stable code, never a 500, never an
echo of a secret that was sent."""

from __future__ import annotations

import base64
import json
import re
import time
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.alerting import RecordingAlerts, service
from tests.support.clock import Clock
from tests.support.fakes import InMemoryBlockStore, RecordingPublisher
from tests.support.functions import OFFLINE_ENV, ROOT, cold_start
from tests.support.lambda_context import FakeLambdaContext
from tests.support.stripe_events import InMemoryQueue, api_gateway_event, sign

SECRET = "unit-bad-input-secret"
ADMIN_SECRET = "unit-bad-input-admin-secret"  # silences, blocks, unblocks
PLANTED = "sk_live_PlantedInTheBody1234"  # must never come back in an answer
ALERTING = {
    "ALERTS_TABLE": "AlertsTable",
    "ALERT_WINDOWS_TABLE": "AlertWindowsTable",
    "ALERT_SILENCES_TABLE": "AlertSilencesTable",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:AlertsTopic",
}
SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- the functions, cold started on in-memory fakes -------------------------------------
@pytest.fixture(scope="module")
def alerts_api() -> ModuleType:
    module = cold_start(
        "alerts_api", {**OFFLINE_ENV, **ALERTING, "ALERTS_API_SECRET": SECRET, "ALERTS_ADMIN_SECRET": ADMIN_SECRET}
    )
    module.service = service(publisher=RecordingPublisher(), clock=Clock())
    return module


@pytest.fixture(scope="module")
def security_api() -> ModuleType:
    tables = {"SECURITY_BLOCKS_TABLE": "SecurityBlocksTable", "SECURITY_WINDOWS_TABLE": "SecurityWindowsTable"}
    module = cold_start(
        "security_api",
        {**OFFLINE_ENV, **ALERTING, **tables, "ALERTS_API_SECRET": SECRET, "ALERTS_ADMIN_SECRET": ADMIN_SECRET},
    )
    module.monitor.store = InMemoryBlockStore()
    module.monitor.alerts = RecordingAlerts()
    return module


@pytest.fixture(scope="module")
def events() -> ModuleType:
    queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/SecurityEventsQueue"
    module = cold_start("events", {**OFFLINE_ENV, "EVENTS_SECRET": SECRET, "SECURITY_EVENTS_QUEUE_URL": queue_url})
    module.ingest.queue = ListQueue()
    return module


@pytest.fixture(scope="module")
def webhook() -> ModuleType:
    queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/WebhooksQueue"
    module = cold_start(
        "stripe_webhook", {**OFFLINE_ENV, "STRIPE_WEBHOOK_SECRET": SECRET, "WEBHOOKS_QUEUE_URL": queue_url}
    )
    module.ingest.queue = InMemoryQueue()
    return module


class ListQueue:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def send_events(self, events: Any) -> list[str]:
        self.events.extend(events)
        return []


# --- requests ---------------------------------------------------------------------------
# name: function fixture, resource, path, method, path parameters, signature header (signed routes)
ROUTES: dict[str, tuple[str, str, str, str, dict[str, str] | None, str | None]] = {
    "ack": (
        "alerts_api",
        "/api/alerts/{id}/ack",
        "/api/alerts/payment_failure/ack",
        "POST",
        {"id": "payment_failure"},
        None,
    ),
    "resolve": (
        "alerts_api",
        "/api/alerts/{id}/resolve",
        "/api/alerts/payment_failure/resolve",
        "POST",
        {"id": "payment_failure"},
        None,
    ),
    "silence": ("alerts_api", "/api/alerts/silences", "/api/alerts/silences", "POST", None, None),
    "block": (
        "security_api",
        "/api/security/blocks/{ip}",
        "/api/security/blocks/203.0.113.9",
        "PUT",
        {"ip": "203.0.113.9"},
        None,
    ),
    "unblock": (
        "security_api",
        "/api/security/blocks/{ip}",
        "/api/security/blocks/203.0.113.9",
        "DELETE",
        {"ip": "203.0.113.9"},
        None,
    ),
    "events": ("events", "/api/events", "/api/events", "POST", None, "X-Monitoring-Signature"),
    "webhook": ("webhook", "/api/webhooks/stripe", "/api/webhooks/stripe", "POST", None, "Stripe-Signature"),
}
STABLE_CODE = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]$")


def function(request: pytest.FixtureRequest, route: str) -> ModuleType:
    module: ModuleType = request.getfixturevalue(ROUTES[route][0])
    return module


def event_for(
    route: str,
    body: str | bytes | None,
    *,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    base64_text: str | None = None,
) -> dict[str, Any]:
    """The proxy event API Gateway would hand the route's function. Bytes go base64-encoded, as
    API Gateway sends a binary body; `base64_text` is sent as it is, flagged as base64."""
    _, resource, path, method, parameters, signature_header = ROUTES[route]
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    sent = {"X-Alerts-Secret": SECRET, "X-Alerts-Admin-Secret": ADMIN_SECRET} if signature_header is None else {}
    if signature_header is not None and raw is not None:
        # Signed as sent, so the checks after the signature's are reached; bytes that are not
        # UTF-8 are refused before it.
        text = raw.decode("utf-8", "replace")
        sent[signature_header] = sign(text, SECRET) if text.encode() == raw else "t=1,v1=00"
    sent.update(headers or {})
    event = api_gateway_event("", None, content_type=content_type, headers=sent)
    event.update(resource=resource, path=path, httpMethod=method, pathParameters=parameters)
    event["requestContext"].update(resourcePath=resource, httpMethod=method)
    if base64_text is not None:
        event["body"], event["isBase64Encoded"] = base64_text, True
    elif isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"] = body
    return event


def answer(module: ModuleType, event: dict[str, Any]) -> tuple[int, dict[str, Any], str, dict[str, str]]:
    response = module.lambda_handler(event, FakeLambdaContext())
    headers = {key: values[0] for key, values in (response.get("multiValueHeaders") or {}).items()}
    headers.update(response.get("headers") or {})
    raw = response["body"]
    return response["statusCode"], json.loads(raw), raw, headers


def assert_clean_answer(status: int, body: dict[str, Any], raw: str, headers: dict[str, str]) -> None:
    """Never a 500; an error is {"error": {"code", "message"}} with a stable code; nothing echoed."""
    assert status < 500, raw
    assert PLANTED not in raw and SECRET not in raw and ADMIN_SECRET not in raw
    assert SAFE_CORRELATION_ID.match(headers["X-Correlation-ID"]), headers
    if status >= 400:
        assert STABLE_CODE.match(body["error"]["code"]), raw
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def refusal(request: pytest.FixtureRequest, route: str, event: dict[str, Any]) -> tuple[int, str]:
    status, body, raw, headers = answer(function(request, route), event)
    assert_clean_answer(status, body, raw, headers)
    assert 400 <= status < 500, raw
    return status, body["error"]["code"]


BODY_ROUTES = list(ROUTES)
JSON_REFUSALS = {"invalid_json", "invalid_request", "invalid_event", "invalid_events", "invalid_payload"}


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        '{"by": ',
        "{'by': 'single quotes'}",
        "[1, 2",
        "nul",
        '{"by": "x"} trailing',
        "\x00",
        '{"by": "\\ud800"',
        f'{{"by": "{PLANTED}"',
    ],
    ids=["truncated", "single-quotes", "open-array", "bare-word", "trailing", "nul-byte", "surrogate", "planted"],
)
def test_malformed_json_is_a_400_that_echoes_nothing(request: pytest.FixtureRequest, route: str, body: str) -> None:
    assert refusal(request, route, event_for(route, body)) in {(400, code) for code in JSON_REFUSALS}


NOT_OBJECTS = {
    "array": "[]",
    "number": "1",
    "string": '"text"',
    "null": "null",
    "true": "true",
    "deep-array": "[" * 5000 + "]" * 5000,
    "deep-object": '{"a":' * 2000 + "1" + "}" * 2000,
}
# A JSON null reads as no body, which the routes with an optional body accept.
OPTIONAL_BODY_ROUTES = ("ack", "resolve", "unblock", "block")


@pytest.mark.parametrize(
    ("route", "body"),
    [
        pytest.param(route, body, id=f"{name}-{route}")
        for route in BODY_ROUTES
        for name, body in NOT_OBJECTS.items()
        if not (name == "null" and route in OPTIONAL_BODY_ROUTES)
    ],
)
def test_json_that_is_not_an_object_is_a_400(request: pytest.FixtureRequest, route: str, body: str) -> None:
    assert refusal(request, route, event_for(route, body)) in {(400, code) for code in JSON_REFUSALS}


WRONG_TYPES = {
    "ack": [{"by": 5}, {"note": ["x"]}, {"by": None, "note": {"a": 1}}, {"by": "x" * 101}, {"note": "x" * 501}],
    "resolve": [{"by": True}, {"note": 1.5}, {"by": ""}],
    "silence": [
        {"type": "payment_failure", "minutes": "30"},
        {"type": "payment_failure", "minutes": True},
        {"type": "payment_failure", "minutes": 1e308},
        {"type": "payment_failure", "minutes": -5},
        {"type": "payment_failure", "minutes": 10**400},
        {"type": "payment_failure", "until": 5},
        {"type": "payment_failure", "until": "2026-13-45T99:00:00Z"},
        {"type": "payment_failure", "until": "9999-12-31T23:59:59Z"},
        {"type": "payment_failure", "minutes": 5, "until": "2030-01-01T00:00:00Z"},
        {"type": ["payment_failure"], "minutes": 5},
        {"type": PLANTED, "minutes": 5},  # the unknown type was quoted back in the message
        {"minutes": 5},
    ],
    "block": [{"hours": "24"}, {"hours": 0}, {"hours": 10**400}, {"hours": 1e308}, {"reason": 5}, {"by": ""}],
    "unblock": [{"by": 5}, {"by": "x" * 101}],
    "events": [
        {"events": {}},
        {"events": []},
        {"events": [1, "x", None]},
        {"events": [{"type": "failed_login", "ip": PLANTED}]},
        {"events": [{"type": "failed_login", "ip": "203.0.113.9", "details": [PLANTED]}]},
        {"events": [{"type": "failed_login", "ip": "203.0.113.9", "occurred_at": 10**400}]},
        {"events": [{"type": "failed_login", "ip": "203.0.113.9"}] * 101},
    ],
    "webhook": [{"id": 5, "type": "x"}, {"id": "evt_1", "type": None}, {"id": PLANTED, "type": "charge.refunded"}],
}


@pytest.mark.parametrize(("route", "body"), [(route, body) for route, bodies in WRONG_TYPES.items() for body in bodies])
def test_wrong_types_and_values_are_a_4xx_with_a_stable_code(
    request: pytest.FixtureRequest, route: str, body: dict[str, Any]
) -> None:
    refusal(request, route, event_for(route, json.dumps(body)))


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize(
    "literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"], ids=["nan", "inf", "-inf", "1e400", "-1e400"]
)
def test_nan_and_infinity_never_reach_a_store(request: pytest.FixtureRequest, route: str, literal: str) -> None:
    # Python's json reads these; a JSON store or the DynamoDB Number type cannot hold them.
    bodies = {
        "silence": f'{{"type": "payment_failure", "minutes": {literal}}}',
        "block": f'{{"hours": {literal}}}',
        "events": f'{{"events": [{{"type": "failed_login", "ip": "203.0.113.9", "details": {{"x": {literal}}}}}]}}',
        "webhook": f'{{"id": "evt_nan", "type": "charge.refunded", "amount": {literal}}}',
    }
    body = bodies.get(route, f'{{"by": "alice", "note": {literal}}}')
    status, code = refusal(request, route, event_for(route, body))
    assert status == 400 and code in JSON_REFUSALS


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_duplicated_keys_are_read_as_the_last_and_never_fail(request: pytest.FixtureRequest, route: str) -> None:
    body = '{"by": "alice", "by": 5, "type": "payment_failure", "type": [1], "hours": 1, "hours": "x", "events": []}'
    refusal(request, route, event_for(route, body))


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_a_body_over_the_limit_is_413_even_over_api_gateways_10_mb(request: pytest.FixtureRequest, route: str) -> None:
    huge = json.dumps({"by": "x", "note": PLANTED + "x" * (10 * 1024 * 1024)})
    assert refusal(request, route, event_for(route, huge)) == (413, "payload_too_large")
    assert refusal(request, route, event_for(route, huge.encode())) == (413, "payload_too_large")


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_body_that_is_not_declared_json_is_415(
    request: pytest.FixtureRequest, route: str, content_type: str | None
) -> None:
    event = event_for(route, json.dumps({"by": "alice"}), content_type=content_type)
    assert refusal(request, route, event) == (415, "unsupported_media_type")


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize(
    "base64_text",
    ["!!!not base64!!!", "eyJieSI6I", "a", "e30"],
    ids=["symbols", "cut", "one-char", "unpadded"],
)
def test_a_body_flagged_base64_that_is_not_is_a_400(
    request: pytest.FixtureRequest, route: str, base64_text: str
) -> None:
    assert refusal(request, route, event_for(route, None, base64_text=base64_text)) == (400, "invalid_base64")


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe{}", b'{"by": "\xc3"}', b'{"by": "\xed\xa0\x80"}'],
    ids=["bom", "cut-sequence", "encoded-surrogate"],
)
def test_a_body_that_is_not_utf8_is_a_400(request: pytest.FixtureRequest, route: str, raw: bytes) -> None:
    assert refusal(request, route, event_for(route, raw))[0] == 400


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_a_valid_base64_body_reads_like_the_plain_one(request: pytest.FixtureRequest, route: str) -> None:
    plain = answer(function(request, route), event_for(route, '{"by": 5}'))
    encoded = answer(function(request, route), event_for(route, b'{"by": 5}'))
    assert (encoded[0], encoded[1]["error"]["code"]) == (plain[0], plain[1]["error"]["code"])


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize(
    "value",
    ["abc\r\nSet-Cookie: session=stolen", "abc\nX-Injected: 1", "\x00", "a" * 129, "ünïcode", PLANTED + "\r\n"],
    ids=["crlf", "lf", "nul", "too-long", "unicode", "planted"],
)
def test_an_unsafe_correlation_id_is_never_echoed(request: pytest.FixtureRequest, route: str, value: str) -> None:
    event = event_for(route, "{}", headers={"X-Correlation-ID": value})
    _, _, raw, headers = answer(function(request, route), event)
    assert headers["X-Correlation-ID"] == event["requestContext"]["requestId"]
    assert all("\r" not in v and "\n" not in v for v in headers.values())
    assert PLANTED not in raw


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_control_characters_in_fields_are_data_not_errors(request: pytest.FixtureRequest, route: str) -> None:
    controls = "".join(map(chr, range(32))) + "\x7f\u2028\u202e\ufeff"
    body = {
        "by": "al\x00ice",
        "note": controls,
        "reason": controls,
        "type": "payment_failure",
        "minutes": 5,
        "hours": 1,
        "events": [
            {"type": "failed_login", "ip": "203.0.113.9", "user_agent": controls, "details": {controls: controls}}
        ],
    }
    status, answer_body, raw, headers = answer(function(request, route), event_for(route, json.dumps(body)))
    assert_clean_answer(status, answer_body, raw, headers)


@pytest.mark.parametrize("route", ["ack", "silence", "block", "events"])
def test_secrets_sent_in_any_field_never_come_back(request: pytest.FixtureRequest, route: str) -> None:
    body = {
        "by": PLANTED[:100],
        "note": f"password={PLANTED}",
        "reason": f"Bearer {PLANTED}",
        "type": "payment_failure",
        "minutes": 5,
        "events": [
            {
                "type": "failed_login",
                "ip": "203.0.113.9",
                "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "user_agent": PLANTED,
                "details": {"token": PLANTED},
            }
        ],
    }
    module = function(request, route)
    if route == "ack":
        module.service.alert("payment_failure", {"count": 3})
    status, answer_body, raw, headers = answer(module, event_for(route, json.dumps(body)))
    assert status in (200, 201, 202), raw
    assert_clean_answer(status, answer_body, raw, headers)


# --- fuzzing --------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "by": JSON_VALUES,
        "note": JSON_VALUES,
        "reason": JSON_VALUES,
        "type": st.sampled_from(["payment_failure", "failed_login", "charge.refunded"]) | JSON_VALUES,
        "minutes": st.floats() | st.integers() | JSON_VALUES,
        "until": st.datetimes().map(lambda d: d.isoformat() + "Z") | JSON_VALUES,
        "hours": st.floats() | st.integers() | JSON_VALUES,
        "id": st.just("evt_fuzz") | JSON_VALUES,
        "events": st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["failed_login", "sql_injection_attempt"]) | JSON_VALUES},
                optional={
                    "ip": st.ip_addresses().map(str) | JSON_VALUES,
                    "occurred_at": JSON_VALUES,
                    "details": JSON_VALUES,
                    "user_id": JSON_VALUES,
                    "user_agent": JSON_VALUES,
                    "id": JSON_VALUES,
                },
            ),
            max_size=3,
        )
        | JSON_VALUES,
    },
)
BODIES: st.SearchStrategy[str | bytes] = st.one_of(
    FIELDS.map(json.dumps),  # allow_nan: NaN and Infinity literals too
    JSON_VALUES.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=60),
)


@FUZZ
@given(route=st.sampled_from(BODY_ROUTES), body=BODIES, correlation_id=st.text(max_size=40))
@example(route="silence", body='{"type": "payment_failure", "minutes": 1e308}', correlation_id="x")
@example(route="events", body='{"events": [' * 2000, correlation_id="x\r\nSet-Cookie: a=b")
def test_any_body_gets_a_clean_answer(
    request: pytest.FixtureRequest, route: str, body: str | bytes, correlation_id: str
) -> None:
    event = event_for(route, body, headers={"X-Correlation-ID": correlation_id})
    assert_clean_answer(*answer(function(request, route), event))


def test_every_post_route_is_covered() -> None:
    # A route added to the API without a place here would escape every case above.
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506
    routes = set()
    for resource in template["Resources"].values():
        for source in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if source.get("Type") == "Api":
                props = source["Properties"]
                routes.add((props["Path"], props["Method"].upper()))
    with_bodies = {(path, method) for path, method in routes if method in ("POST", "PUT", "PATCH", "DELETE")}
    covered = {(spec[1].replace("{id}", "{id}"), spec[3]) for spec in ROUTES.values()}
    assert with_bodies <= covered | {("/api/alerts/silences/{id}", "DELETE")}, with_bodies - covered
