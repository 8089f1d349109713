"""Property-based proof that no secret gets through masking to a log line, a Sentry event or an
alert message, and that any label value gives a scrape that Prometheus' parser reads back.

Each secret strategy gives the text to plant and its distinctive parts (what must never be seen
again). The text is planted in random unicode (control characters and surrogates included)
between separators, inside nested dicts and lists, in exception messages and in object reprs,
then sent through the real pipelines: the Powertools channel loggers, a sentry_sdk client with
the options init_sentry passes and a recording transport, and the alert channels' renderers.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import sentry_sdk
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from platform_monitoring.alerting.delivery import messages
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.core.masking import MASK, is_sensitive_key, luhn_valid, mask_text
from platform_monitoring.core.settings import SentrySettings
from platform_monitoring.observability import sentry
from platform_monitoring.observability.exposition import render
from platform_monitoring.observability.logging import channels, monitoring_log
from platform_monitoring.observability.store import MAX_LABEL_LENGTH, MetricRecorder
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from tests.support.alerting import published, service
from tests.support.clock import Clock
from tests.support.fakes import InMemoryMetricBackend
from tests.support.logs import captured_channel

ALNUM = string.ascii_letters + string.digits
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- secrets --------------------------------------------------------------------------
@dataclass(frozen=True)
class Planted:
    text: str  # what is written
    hidden: tuple[str, ...]  # what must never be seen again


def _random(min_size: int = 10, max_size: int = 32, alphabet: str = ALNUM) -> st.SearchStrategy[str]:
    # At least six letters or digits, so a part is distinctive rather than "----------", and not
    # letters alone: Hypothesis mines this module's own words ("password" of the local in _raise,
    # which Sentry sends as source context) and no generated key or token is a plain word.
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size).filter(
        lambda s: sum(c in ALNUM for c in s) >= 6 and not s.isalpha()
    )


def _luhn_complete(prefix: str) -> str:
    return next(prefix + d for d in string.digits if luhn_valid(prefix + d))


@st.composite
def card_numbers(draw: st.DrawFn) -> Planted:
    card = _luhn_complete(draw(st.text(alphabet=string.digits, min_size=12, max_size=18)))
    separator = draw(st.sampled_from(["", " ", "-"]))
    shown = separator.join(card[i : i + 4] for i in range(0, len(card), 4))
    return Planted(shown, (shown, card))


PAIR_KEYS = [
    "password",
    "db_password",
    "PASSWORD",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "api_key",
    "apikey",
    "Api-Key",
    "cvv",
    "ssn",
    "tax_id",
    "authorization",
    "cookie",
    "credentials",
    "passphrase",
    "dsn",
]

SECRETS: st.SearchStrategy[Planted] = st.one_of(
    st.builds(
        lambda kind, mode, tail: Planted(f"{kind}_{mode}_{tail}", (tail,)),
        st.sampled_from(["sk", "rk"]),
        st.sampled_from(["live", "test"]),
        _random(),
    ),
    st.builds(lambda tail: Planted(f"whsec_{tail}", (tail,)), _random(alphabet=ALNUM + "+/")),
    st.builds(
        lambda scheme, token, pad: Planted(f"{scheme} {token}{pad}", (token,)),
        st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "basic"]),
        _random(alphabet=ALNUM + "-._~+/"),
        st.sampled_from(["", "=", "=="]),
    ),
    st.builds(
        lambda head, body, sig: Planted(f"eyJ{head}.{body}.{sig}", (f"{body}.{sig}",)),
        _random(5, 20, ALNUM + "-_"),
        _random(8, 30, ALNUM + "-_"),
        _random(8, 40, ALNUM + "-_"),
    ).filter(lambda jwt: len(set(jwt.text.split("."))) == 3),  # a cut "eyJ<head>.<body>" shows no body.sig
    st.builds(
        lambda prefix, rest: Planted(prefix + rest, (rest,)),
        st.sampled_from(["AKIA", "ASIA"]),
        st.text(alphabet=string.ascii_uppercase + string.digits, min_size=16, max_size=16).filter(
            lambda s: sum(c.isdigit() for c in s) >= 2
        ),
    ),
    st.builds(
        lambda scheme, user, password, host: Planted(f"{scheme}://{user}:{password}@{host}/0", (password,)),
        st.sampled_from(["redis", "mysql", "postgres", "https", "amqp", "mongodb+srv"]),
        st.text(alphabet=ALNUM, max_size=8),
        _random(8, 24),
        st.sampled_from(["cache.internal:6379", "db", "127.0.0.1"]),
    ),
    st.builds(
        lambda kind, workspace, user, token: Planted(f"{kind}-{workspace}-{user}-{token}", (token,)),
        st.sampled_from(["xoxb", "xoxp", "xoxa", "xoxe.xoxp"]),
        st.text(alphabet=string.digits, min_size=10, max_size=13),
        st.text(alphabet=string.digits, min_size=10, max_size=13),
        _random(16, 32),
    ),
    st.builds(
        lambda team, bot, token: Planted(
            f"https://hooks.slack.com/services/T{team}/B{bot}/{token}", (f"B{bot}/{token}", token)
        ),
        _random(8, 10),
        _random(8, 10),
        _random(20, 24),
    ),
    st.builds(
        lambda key, sep, quote, value: Planted(f"{key}{sep}{quote}{value}{quote}", (value,)),
        st.sampled_from(PAIR_KEYS),
        st.sampled_from(["=", ": ", " = ", ":"]),
        st.sampled_from(["", '"', "'"]),
        _random(8, 24, ALNUM + "!#$%()*+-./<>?@[]^_`{|}~"),
    ),
    card_numbers(),
)

# What may stand right before and after a secret: whitespace, control characters, brackets and
# non-ASCII punctuation. (Letters or digits glued to a secret make another token.)
SEPARATORS = st.sampled_from([" ", "\t", "\n", "\r\n", "\x00", "\x1b", "\x7f", "\u2028", "\u3000", "(", ")", "[", "]"])
SEPARATORS |= st.sampled_from(
    ["{", "}", "<", ">", "|", "!", "?", "\uff0c", "\u3002", "«", "»", "、", '"', "'", ",", ";", "&"]
)
# Any unicode, lone surrogates included (a client's JSON "\udc80" decodes to one).
FILLER = st.text(st.characters(exclude_categories=()), max_size=30)


@st.composite
def in_text(draw: st.DrawFn, secret: Planted) -> str:
    before, after = draw(FILLER), draw(FILLER)
    for part in secret.hidden:  # a part that was already in the filler is not a leak
        if part in before or part in after:
            before, after = "", ""
    return f"{before}{draw(SEPARATORS)}{secret.text}{draw(SEPARATORS)}{after}"


SENSITIVE_KEYS = st.sampled_from(
    [
        "password",
        "db_password",
        "X-Api-Key",
        "accessToken",
        "Authorization",
        "Cookie",
        "client_secret",
        "STRIPE_SECRET",
        "cardNumber",
        "cvv",
        "ssn",
        "tax_id",
        "passphrase",
        "credentials",
        "sentry_dsn",
        "Stripe-Signature",
        "x-health-check-secret",
    ]
)
INNOCENT_KEYS = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda key: not is_sensitive_key(key) and mask_text(key) == key
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | FILLER


@st.composite
def nested(draw: st.DrawFn, leaf: Any) -> Any:
    """leaf somewhere inside random dicts and lists, beside random siblings."""
    value = leaf
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            siblings = draw(st.dictionaries(INNOCENT_KEYS, SCALARS, max_size=3))
            value = {**siblings, draw(INNOCENT_KEYS): value}
        else:
            siblings = draw(st.lists(SCALARS, max_size=3))
            position = draw(st.integers(0, len(siblings)))
            value = [*siblings[:position], value, *siblings[position:]]
    return value


def _planted_once(structure: Any, planted: str, hidden: tuple[str, ...]) -> bool:
    """The hidden parts appear nowhere in the structure but where they were planted."""
    text = json.dumps(structure, ensure_ascii=False)
    return all(text.count(part) == json.dumps(planted, ensure_ascii=False).count(part) for part in hidden)


@st.composite
def carried(draw: st.DrawFn) -> tuple[Any, tuple[str, ...]]:
    """A structure carrying one secret: in free text, under a sensitive key or as a key."""
    secret = draw(SECRETS)
    text = draw(in_text(secret))
    how = draw(st.sampled_from(["text", "sensitive_key", "key"]))
    if how == "sensitive_key":
        raw = draw(_random(8, 24, ALNUM + "!#$%&*+-./:;=?@_~ "))
        value = draw(st.sampled_from([raw, [raw], {"value": raw}]))
        structure, planted, hidden = draw(nested({draw(SENSITIVE_KEYS): value})), raw, (raw,)
    else:
        structure = draw(nested({text: 1} if how == "key" else text))
        planted, hidden = text, secret.hidden
    assume(_planted_once(structure, planted, hidden))
    return structure, hidden


# JSON's and repr's escapes of the characters around a secret: "\\u0000" beside a filler's "000000"
# reads "0000000000" without any secret in it, so the escapes are taken out before looking.
_ESCAPES = re.compile(r"\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|U[0-9a-fA-F]{8})")


def assert_hidden(output: str, hidden: tuple[str, ...]) -> None:
    unescaped = _ESCAPES.sub("\x01", output)
    for part in hidden:
        assert part not in unescaped, f"{part!r} leaked into {output!r}"


def test_the_strategies_plant_what_the_masking_claims_to_handle() -> None:
    # Every kind of secret is masked where it stands, so a failing property means a real leak.
    for planted in (
        Planted("sk_live_4eC39HqLyjWDarjtT1zdp7dc", ("4eC39HqLyjWDarjtT1zdp7dc",)),
        Planted("Authorization: Bearer abc.def-ghi_jkl", ("abc.def-ghi_jkl",)),
        Planted("4000-0566-5566-5556", ("4000-0566-5566-5556",)),
    ):
        assert_hidden(mask_text(f"x {planted.text} y"), planted.hidden)
        assert MASK in mask_text(planted.text)


# --- (1) log lines --------------------------------------------------------------------
class Carrier:
    """An object whose text holds a secret (an ORM row, a request object...)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _raise(message: Any) -> None:
    password_in_a_local = message  # noqa: F841 - frames with locals are what Sentry sends
    raise RuntimeError(message)


LOG_WAYS = ["message", "args", "extra", "nested_extra", "object", "exception", "exception_args", "keys"]


def log_lines(way: str, carrier: Any, text: str) -> list[str]:
    """What the monitoring channel writes when `way` carries the secret."""
    log = monitoring_log
    with captured_channel("monitoring") as output:
        if way == "message":
            log.warning(text)
        elif way == "args":
            log.warning("Stripe said %s (%r)", text, carrier)
        elif way == "extra":
            log.warning("call failed", extra={"error": text, "detail": carrier})
        elif way == "nested_extra":
            log.warning("call failed", extra={"request": carrier})
        elif way == "object":
            log.warning("call failed", extra={"row": Carrier(text), "error": ValueError(text)})
        elif way == "keys":
            channels.append_keys(request_context=carrier)
            try:
                log.warning("with context")
            finally:
                channels.begin_invocation()
        else:
            try:
                _raise(text if way == "exception" else carrier)
            except RuntimeError:
                log.exception("Unhandled error while serving a request")
    # CloudWatch splits on "\n" only (not on U+2028 as str.splitlines would).
    return [line for line in output.getvalue().split("\n") if line]


@EXAMPLES
@given(carried(), st.sampled_from(LOG_WAYS), st.data())
@example(({"note": "qty 2 4242 4242 4242 4242 12/30"}, ("4242 4242 4242 4242",)), "extra", None)
@example(({"sk_live_KeyUsedAsAKey1234": 1}, ("KeyUsedAsAKey1234",)), "nested_extra", None)
@example(({"x": "密钥sk_live_GluedToHanzi1234"}, ("GluedToHanzi1234",)), "message", None)
@example(({"x": "authorization=NotInThePairList99"}, ("NotInThePairList99",)), "object", None)
@example(({"x": "sk_live_InTheStackTrace12\udc80"}, ("InTheStackTrace12",)), "exception", None)
@example(({"password": ["00000000"]}, ("00000000",)), "exception_args", None)  # JSON text of a list value
@example((" \twhsec_0000000000 ", ("0000000000",)), "args", None)  # %r writes "\\twhsec_..."
@example(({"accessToken": "0000 0000"}, ("0000 0000",)), "message", None)  # camelCase key, spaced value
@example(({"credentials": "00000000"}, ("00000000",)), "extra", None)  # the plural was not a sensitive key
@example(("  1000000000009  ", ("1000000000009",)), "message", None)  # Powertools decoded it to a number
def test_no_secret_reaches_a_log_line(
    carried_secret: tuple[Any, tuple[str, ...]], way: str, data: st.DataObject | None
) -> None:
    carrier, hidden = carried_secret
    text = json.dumps(carrier, ensure_ascii=False) if not isinstance(carrier, str) else carrier
    if data is not None and way in ("message", "args", "exception", "object"):
        text = data.draw(in_text(Planted(text, hidden)))
    lines = log_lines(way, carrier, text)
    assert lines, "nothing was logged"
    for line in lines:
        line.encode("utf-8")  # what CloudWatch receives: valid UTF-8, or the line is lost
        record = json.loads(line)
        assert record["channel"] == "monitoring"
        assert_hidden(line, hidden)
        assert_hidden(json.dumps(record, ensure_ascii=False), hidden)


# --- (2) Sentry events ----------------------------------------------------------------
class RecordingTransport(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def sent(self) -> str:
        """Every item sent, as JSON text with escapes resolved."""
        texts = []
        for envelope in self.envelopes:
            for item in envelope.items:
                payload = item.get_bytes().decode("utf-8", "replace")
                try:
                    texts.append(json.dumps(json.loads(payload), ensure_ascii=False))
                except ValueError:
                    texts.append(payload)
        self.envelopes.clear()
        return "\n".join(texts)


@pytest.fixture(scope="module")
def sentry_client() -> Iterator[tuple[sentry_sdk.Client, RecordingTransport]]:
    """A client with exactly the options init_sentry passes (minus the Lambda integration, which
    patches the runtime), sending to a recording transport: the real serializer and before_send."""
    options: dict[str, Any] = {}
    real_init, started = sentry_sdk.init, sentry._sentry_started
    sentry_sdk.init = lambda **kwargs: options.update(kwargs)  # type: ignore[assignment]
    sentry._sentry_started = False
    try:
        env = {"SENTRY_DSN": "https://publickey@o1.ingest.sentry.io/42", "SENTRY_TRACES_SAMPLE_RATE": "1"}
        assert sentry.init_sentry(SentrySettings.from_env(env))
    finally:
        sentry_sdk.init, sentry._sentry_started = real_init, started
    assert options["before_send_transaction"] is sentry.sentry_before_send_transaction
    transport = RecordingTransport()
    options.pop("integrations")
    client = sentry_sdk.Client(**options, default_integrations=False, transport=transport)
    yield client, transport
    client.close()


def sentry_request(carrier: Any, text: str) -> dict[str, Any]:
    """The `request` interface as sentry_sdk's integrations fill it from an API Gateway event."""
    return {
        "url": "https://api.example.com/api/alerts",
        "method": "POST",
        "query_string": f"note={text}&page=1",
        "headers": {"Authorization": text, "X-Alerts-Secret": text, "User-Agent": text},
        "cookies": {"session": text},
        "data": carrier,
        "env": {"REMOTE_ADDR": "203.0.113.5"},
    }


def report_to_sentry(client: sentry_sdk.Client, carrier: Any, text: str) -> None:
    """An exception (frames with locals), an event with a request, a message and a transaction.
    (A function of its own: Sentry sends the callers' locals, and the test's hold the bare parts.)"""
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        scope.set_extra("payload", carrier)
        scope.set_context("stripe", {"response": carrier, "note": text})
        # Whole texts: cutting a planted secret short here (a URL before its "@") would make it a
        # different string, which no masking can recognise; the library masks before it truncates.
        scope.set_tag("note", text)
        scope.add_breadcrumb(category="http", message=text, data={"body": carrier})
        try:
            _raise(text)
        except RuntimeError:
            scope.capture_exception()
        scope.capture_event({"message": text, "level": "error", "request": sentry_request(carrier, text)})
        scope.capture_message(text)
        with sentry_sdk.start_transaction(name=f"POST {text}") as transaction:
            transaction.set_data("body", carrier)
    client.flush()


@settings(EXAMPLES, max_examples=20)  # four events a case through the whole client
@given(carried(), st.data())
@example(({"sk_live_KeyUsedAsAKey1234": 1}, ("KeyUsedAsAKey1234",)), None)
@example(({"Cookie": {"value": "000000000"}}, ("000000000",)), None)  # an object cut short
def test_no_secret_reaches_a_sentry_event(
    sentry_client: tuple[sentry_sdk.Client, RecordingTransport],
    carried_secret: tuple[Any, tuple[str, ...]],
    data: st.DataObject | None,
) -> None:
    client, transport = sentry_client
    carrier, hidden = carried_secret
    text = json.dumps(carrier, ensure_ascii=False)
    if data is not None:
        text = data.draw(in_text(Planted(text, hidden)))
    report_to_sentry(client, carrier, text)
    sent = transport.sent()
    assert sent.count('"event_id"') == 4  # three events and the transaction
    assert_hidden(sent, hidden)


# --- (3) alert messages ---------------------------------------------------------------
def rendered(notification: Notification) -> str:
    """Every channel's payload as the recipient sees it: email headers and decoded parts, SMS, Slack."""
    raw = messages.email_message(notification, "alerts@example.com", ["ops@example.com"])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [str(message[name]) for name in ("Subject", "X-AskProAI-Alert")]
    parts += [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    parts += [messages.sms_text(notification)]
    parts += [json.dumps(messages.slack_payload(notification), ensure_ascii=False)]
    return "\n".join(parts)


@EXAMPLES
@given(carried(), st.data())
def test_no_secret_reaches_an_alert_message(carried_secret: tuple[Any, tuple[str, ...]], data: st.DataObject) -> None:
    carrier, hidden = carried_secret
    text = data.draw(in_text(Planted(json.dumps(carrier, ensure_ascii=False), hidden)))
    # Given alerts raised with the secret in their context, grouping labels and summary fields
    alerting = service(clock=Clock())
    context = {"charge": text, "amount": carrier, "currency": "eur", "reason": text, "payload": carrier}
    alerting.alert("stripe_dispute", context)
    alerting.alert("queue_backlog", {"queue": text, "size": 5000, "response": carrier})
    alerting.alert("alert_channel_failure", {"channel": "slack", "error": text, "attempts": 3, "detail": carrier})
    # and resolved by someone who pasted it in the note
    alerting.resolve("stripe_dispute", by=text[:100], note=text)
    notifications = published(alerting.publisher)
    assert [n.kind for n in notifications].count("firing") == 3
    for notification in notifications:
        # When each travels through the topic and is rendered for every channel
        delivered = Notification.from_json(notification.to_json())
        # Then no channel shows the secret
        assert_hidden(notification.to_json(), hidden)
        assert_hidden(rendered(delivered), hidden)


@EXAMPLES
@given(SECRETS, st.data())
@example(Planted("whsec_0000000000", ("0000000000",)), None)  # with a lone surrogate: the email failed
@example(Planted(" whsec_0000000000\x00000000", ("0000000000",)), None)  # Slack's JSON: "\u0000" + "000000"
def test_every_free_text_field_of_a_notification_is_masked_when_rendered(
    secret: Planted, data: st.DataObject | None
) -> None:
    # A notification from an older publisher, or a rule override carrying a secret by mistake:
    # the renderers mask again whatever they show.
    text = data.draw(in_text(secret)) if data is not None else f" {secret.text} \ud800"
    base = Notification(
        notification_id="n1",
        kind="firing",
        alert_id="payment_failure",
        alert_type="payment_failure",
        title="Payment failures",
        severity="critical",
        summary="3 payment failures",
        runbook_url="https://runbooks.example.com/payment_failure.md",
        stage="test",
    )
    fields = ["title", "summary", "description", "labels", "context", "resolution"]
    for field in fields if data is None else [data.draw(st.sampled_from(fields))]:
        assert_rendered_without(base, field, text, secret.hidden)


def assert_rendered_without(base: Notification, field: str, text: str, hidden: tuple[str, ...]) -> None:
    value: Any = {"queue": text} if field == "labels" else {text: text, "nested": [{"note": text}]}
    changed = replace(base, **{field: value if field in ("labels", "context") else text})
    if field == "resolution":
        changed = replace(changed, kind="resolved")
    assert_hidden(rendered(changed), hidden)


# --- (4) metric labels ----------------------------------------------------------------
# Any code point, lone surrogates included; long enough to cross the 200-character cap.
LABELS = st.text(st.characters(exclude_categories=()), max_size=260)


def expected_label(value: str) -> str:
    """What a label value becomes: cut at MAX_LABEL_LENGTH, non-UTF-8 (a surrogate) as its escape."""
    return value[:MAX_LABEL_LENGTH].encode("utf-8", "backslashreplace").decode("utf-8")


def parsed(body: str, openmetrics: bool) -> dict[str, list[tuple[dict[str, str], float]]]:
    families = openmetrics_families(body) if openmetrics else text_string_to_metric_families(body)
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in families:
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


@settings(max_examples=150, deadline=None)
@given(st.lists(LABELS, min_size=1, max_size=4), st.booleans())
@example(["\udc80", "a" * 199 + "\udc80", '\\n\n"\\', "|1"], True)
@example(["le", "+Inf", "\x00\r\x0b\x1c\x85\u2028", "😀" * 201], False)
def test_any_label_values_round_trip_through_text_and_openmetrics(values: list[str], openmetrics: bool) -> None:
    # Counters, gauges and histograms (whose series keys carry "|" and whose samples add `le`),
    # several series at once, through buffer -> store encoding -> collector -> either format.
    backend = InMemoryMetricBackend()
    recorder = MetricRecorder(lambda: backend)
    for index, value in enumerate(values):
        recorder.set("queue_size", index, queue=value)
        recorder.inc("http_requests_total", route=value, method="GET", status=value)
        recorder.observe("external_api_duration_ms", 7.0, service=value)
    assert recorder.flush() > 0
    accept = "application/openmetrics-text; version=1.0.0" if openmetrics else None
    body, _ = render(backend, accept)
    samples = parsed(body, openmetrics)
    expected = {expected_label(v) for v in values}
    assert {labels["queue"] for labels, _ in samples["askproai_queue_size"]} == expected
    requests = [labels for labels, _ in samples["askproai_http_requests_total"]]
    assert {(labels["route"], labels["status"]) for labels in requests} == {(e, e) for e in expected}
    counts = {labels["service"]: value for labels, value in samples["askproai_external_api_duration_ms_count"]}
    assert set(counts) == expected
    assert sum(counts.values()) == len(values)
    buckets = samples["askproai_external_api_duration_ms_bucket"]
    assert {labels["service"] for labels, _ in buckets} == expected
