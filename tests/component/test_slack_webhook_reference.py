"""ALERT_SLACK_WEBHOOK read from SSM or Secrets Manager (moto server over HTTP) is held to the rule a
literal one meets at cold start: https on Slack's hooks host (http only on loopback), never file:,
no redirect followed. A reference whose value breaks the rule sends nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters import base as parameters_base
from platform_monitoring.alerting.delivery.channels import SlackChannel, SlackError
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.core.config import ConfigurationError, EnvReader
from platform_monitoring.core.settings import AlertRecipients

from tests.support.functions import environment
from tests.support.local_stack import AwsEmulator
from tests.support.recording_server import RecordingServer, recording_server

pytestmark = pytest.mark.integration

NOTIFICATION = Notification(
    notification_id="n-slack-ref",
    kind="firing",
    alert_id="payment_failure",
    alert_type="payment_failure",
    title="Payment failures",
    severity="critical",
    summary="3 payment failures",
)


def accepted(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True}


@pytest.fixture
def slack() -> Iterator[RecordingServer]:
    with recording_server(accepted) as server:
        yield server


@pytest.fixture
def redirector(slack: RecordingServer) -> Iterator[str]:
    """A loopback 'webhook' answering 307 to the Slack capture: following it would post there."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(307)
            self.send_header("Location", f"{slack.url}/redirected")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/x"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def moto_env(aws: AwsEmulator) -> Iterator[None]:
    # Powertools keeps one SSM / Secrets Manager provider per process: make it one on this moto server.
    parameters_base.DEFAULT_PROVIDERS.clear()
    with environment(aws.env()):
        yield
    parameters_base.DEFAULT_PROVIDERS.clear()


_counter = iter(range(1_000_000))


def stored(aws: AwsEmulator, source: str, value: str) -> str:
    """`value` stored under a fresh name in SSM or Secrets Manager; the reference to it."""
    name = f"askproai/slack-test/{next(_counter)}"
    if source == "ssm":
        aws.client("ssm").put_parameter(Name=f"/{name}", Value=value, Type="SecureString", Overwrite=True)
        return f"ssm:/{name}"
    aws.client("secretsmanager").create_secret(Name=name, SecretString=value)
    return f"secretsmanager:{name}"


def channel(reference: str) -> SlackChannel:
    recipients = AlertRecipients.from_env(EnvReader({"ALERT_SLACK_WEBHOOK": reference}))
    return SlackChannel(recipients.slack_webhook, timeout=5)


@pytest.mark.parametrize("source", ["ssm", "secretsmanager"])
def test_a_referenced_webhook_that_follows_the_rule_is_posted_to(
    aws: AwsEmulator, moto_env: None, slack: RecordingServer, source: str
) -> None:
    reference = stored(aws, source, f"{slack.url}/services/T0/B0/secret")
    answer = channel(reference).send("slack", NOTIFICATION)
    assert answer.startswith("HTTP 200")
    assert [(method, path) for method, path, _ in slack.requests] == [("POST", "/services/T0/B0/secret")]


@pytest.mark.parametrize("source", ["ssm", "secretsmanager"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("file:///etc/passwd", "https://"),
        ("http://hooks.slack.com/services/T0/B0/x", "https://"),
        ("https://hooks.slack.com.evil.example/services/T0/B0/x", "Slack incoming webhook"),
        ("https://evil.example/services/T0/B0/x", "Slack incoming webhook"),
        ("https://user:pw@hooks.slack.com/services/T0/B0/x", "credentials"),
        ("ftp://hooks.slack.com/x", "https://"),
    ],
)
def test_a_referenced_value_is_held_to_the_literal_rule(
    aws: AwsEmulator, moto_env: None, source: str, value: str, reason: str
) -> None:
    # The literal is refused at cold start ...
    with pytest.raises(ConfigurationError, match=reason):
        AlertRecipients.from_env({"ALERT_SLACK_WEBHOOK": value})
    # ... and the same value behind a reference is refused before anything is sent, naming the source
    with pytest.raises(SlackError, match=reason) as refused:
        channel(stored(aws, source, value)).send("slack", NOTIFICATION)
    assert f"{source} reference" in str(refused.value) and "nothing was sent" in str(refused.value)
    assert value not in str(refused.value)  # the URL is a secret


@pytest.mark.parametrize("source", ["env", "ssm", "secretsmanager"])
def test_a_redirect_is_not_followed(
    aws: AwsEmulator, moto_env: None, slack: RecordingServer, redirector: str, source: str
) -> None:
    reference = redirector if source == "env" else stored(aws, source, redirector)
    with pytest.raises(SlackError, match="redirect, not followed"):
        channel(reference).send("slack", NOTIFICATION)
    assert slack.requests == []  # the alert never reached where the redirect pointed
