"""Sentry for real: a fresh process starts it from settings and sends an event over HTTP
to a local ingest endpoint; what arrives is masked."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.functions import ROOT

pytestmark = pytest.mark.integration

SCRIPT = """
import json, sys
sys.path.insert(0, "functions/health")
import app, sentry_sdk
from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration

def explode(budget=None):
    raise RuntimeError("checks broke with sk_live_abcdef1234567890 and password=hunter2")

app.service.run = explode
event = json.load(open("events/health.json"))
event["headers"]["X-Health-Check-Secret"] = "sentry-test-secret"
response = app.lambda_handler(event, None)
sentry_sdk.flush(5)
client = sentry_sdk.get_client()
print(json.dumps({
    "status": response["statusCode"],
    "lambda_integration": client.get_integration(AwsLambdaIntegration) is not None,
    "environment": client.options["environment"],
    "traces_sample_rate": client.options["traces_sample_rate"],
    "profiles_sample_rate": client.options["profiles_sample_rate"],
}))
"""


@pytest.fixture
def sentry_ingest() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Ingest(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding == "br":
                import brotli  # type: ignore[import-not-found]

                body = brotli.decompress(body)
            received.append(body)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_address[1]}/1", received
    finally:
        server.shutdown()
        server.server_close()


def test_sentry_starts_from_settings_and_sends_masked_events(sentry_ingest: tuple[str, list[bytes]]) -> None:
    dsn, received = sentry_ingest
    env = {
        "PATH": "/usr/bin:/bin",
        "HEALTH_CHECK_SECRET": "sentry-test-secret",
        "STRIPE_SECRET_KEY": "sk_test_1",
        "SENTRY_LARAVEL_DSN": dsn,
        "SENTRY_ENVIRONMENT": "staging",
        "SENTRY_TRACES_SAMPLE_RATE": "0.2",
        "SENTRY_PROFILES_SAMPLE_RATE": "0.3",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {
        "status": 500,
        "lambda_integration": True,
        "environment": "staging",
        "traces_sample_rate": 0.2,
        "profiles_sample_rate": 0.3,
    }
    events = b"\n".join(received).decode()
    assert "RuntimeError" in events
    assert "checks broke with" in events
    assert "sk_live_abcdef1234567890" not in events
    assert "hunter2" not in events
    assert "sentry-test-secret" not in events
