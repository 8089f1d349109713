"""pytest helpers for the local stack: moto, localstripe and the whole LocalStack on free ports.

Plain context managers and functions (no fixtures here), so conftest.py decides the scopes:

    from tests.support.local_stack import aws_emulator, localstripe, local_stack

    @pytest.fixture(scope="session")
    def aws():
        with aws_emulator() as emulator:          # moto server + every table/queue/topic of template.yaml
            yield emulator

    @pytest.fixture(scope="session")
    def aws_resources(aws):
        return aws.resources                      # logical id -> {"Ref", "Arn", "QueueUrl", ...}

    @pytest.fixture(scope="session")
    def localstripe_url():
        with localstripe() as stripe:
            yield stripe.url

    @pytest.fixture(scope="module")
    def stack():
        with local_stack() as running:            # API, functions, pollers on free ports
            yield running                         # running.api_url, running.invoke(...), ...

Every server runs as its own process on a port the kernel picks, so tests never depend on 3000,
5000 or 8420 being free and never share state with `make local` or with moto's in-process mocks.
Waiting for what the stack does: tests.support.waiting; talking to its API: tests.support.stack_calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localdev.services import MotoServer, StripeServer
from localdev.stack import PROJECT_ROOT, LocalStack
from localdev.template import (
    DEFAULT_REGION,
    LocalResources,
    aws_client,
    create_resources,
    load_template,
    verify_ses_identities,
)

TEMPLATE = PROJECT_ROOT / "template.yaml"


@dataclass
class AwsEmulator:
    """A moto server with a template's resources created in it."""

    server: MotoServer
    resources: LocalResources
    template_path: Path
    region: str = DEFAULT_REGION

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    def client(self, service: str) -> Any:
        """A boto3 client for this moto server (dummy credentials)."""
        return aws_client(service, self.endpoint_url, self.region)

    def env(self) -> dict[str, str]:
        """Variables that point boto3 (in this process or a child) at this moto server."""
        return aws_environment(self.endpoint_url, self.region)

    def reset(self) -> LocalResources:
        """Empty moto and recreate the template's resources (for tests that need a clean slate)."""
        self.server.reset()
        self.resources = create_resources(self.endpoint_url, self.region, load_template(self.template_path))
        return self.resources

    def sent_messages(self) -> dict[str, Any]:
        """moto's record of what was sent: data["ses"]["Message"], data["sns"]["Topic"][i]["sent_notifications"]..."""
        return self.server.data()


def aws_environment(endpoint_url: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """AWS_* variables for boto3 against a moto server (use with monkeypatch.setenv)."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@contextmanager
def aws_emulator(
    template_path: str | os.PathLike[str] = TEMPLATE,
    *,
    region: str = DEFAULT_REGION,
    ses_identities: tuple[str, ...] = ("monitoring@example.com",),
    log_file: str | os.PathLike[str] | None = None,
) -> Iterator[AwsEmulator]:
    """A moto server on a free port with the template's tables, queues and topics (and SES senders verified)."""
    path = Path(template_path)
    with MotoServer(region=region, log_file=log_file) as server:
        resources = create_resources(server.endpoint_url, region, load_template(path))
        if ses_identities:
            verify_ses_identities(server.endpoint_url, region, ses_identities)
        yield AwsEmulator(server, resources, path, region)


@contextmanager
def moto_server(log_file: str | os.PathLike[str] | None = None) -> Iterator[MotoServer]:
    """A bare moto server on a free port (no resources)."""
    with MotoServer(log_file=log_file) as server:
        yield server


@contextmanager
def localstripe(log_file: str | os.PathLike[str] | None = None) -> Iterator[StripeServer]:
    """localstripe on a free loopback port with an empty store; `.url`, `.api_key` (any sk_test_ works)."""
    with StripeServer(log_file=log_file) as server:
        yield server


@contextmanager
def local_stack(
    *,
    code: str = "source",
    template_path: str | os.PathLike[str] = TEMPLATE,
    environ: Mapping[str, str] | None = None,
    template_edit: Callable[[dict[str, Any]], None] | None = None,
    **kwargs: Any,
) -> Iterator[LocalStack]:
    """The whole local stack (API, moto, localstripe, functions, pollers) on free ports.

    code="artifact" runs `.aws-sam/build` with `.venv-runtime/bin/python` (run `sam build` first).
    environ replaces os.environ as the "shell" whose variables override .env (default: os.environ).
    template_edit changes the loaded template before the stack starts (a test's own copy; say why).
    Extra keyword arguments go to LocalStack (schedule_interval=, max_instances=, ensure_db=, ...).
    """
    stack = LocalStack.on_free_ports(code=code, template_path=template_path, environ=environ, **kwargs)
    if template_edit is not None:
        template_edit(stack.template)
    with stack:
        yield stack


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Visible plus in-flight messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def drain_queue(sqs: Any, queue_url: str, wait_seconds: int = 0) -> list[dict[str, Any]]:
    """Receive and delete everything visible on a queue; returns the messages."""
    drained: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return drained
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        drained.extend(messages)
