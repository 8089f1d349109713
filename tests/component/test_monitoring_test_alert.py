"""`monitoring-test --alert`: a test alert through every configured channel, each channel's result."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.slack import SlackCapture
from tests.support.faults import HangingServer
from tests.support.functions import ROOT
from tests.support.local_stack import AwsEmulator

pytestmark = pytest.mark.integration

CLI = ROOT / ".venv" / "bin" / "monitoring-test"


@pytest.fixture
def slack() -> Iterator[SlackCapture]:
    with SlackCapture() as capture:
        yield capture


def run(aws: AwsEmulator, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # cwd without a .env: only what is passed here counts
    environment = {
        "PATH": os.environ["PATH"],
        **aws.env(),
        "ALERT_EMAIL_RECIPIENTS": "ops@example.com",
        "ALERT_EMAIL_FROM": "monitoring@example.com",
        "ALERT_SMS_RECIPIENTS": "+15555550100",
        **env,
    }
    return subprocess.run(
        [CLI, "--alert"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_every_configured_channel_passes(aws: AwsEmulator, slack: SlackCapture, tmp_path: Path) -> None:
    result = run(aws, tmp_path, ALERT_SLACK_WEBHOOK=slack.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alert: passed" in result.stdout
    for line in ("PASS email  email: sent", "PASS sms    sms:+15555550100: sent", "PASS slack  slack: sent"):
        assert line in result.stdout
    [text] = slack.texts()
    assert text.startswith(":test_tube: TEST: Test alert from monitoring-test")


def test_an_unconfigured_channel_is_skipped(aws: AwsEmulator, tmp_path: Path) -> None:
    result = run(aws, tmp_path, ALERT_SMS_RECIPIENTS="")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIP sms    sms: skipped (no ALERT_SMS_RECIPIENTS configured)" in result.stdout
    assert "SKIP slack  slack: skipped (no ALERT_SLACK_WEBHOOK configured)" in result.stdout


def test_a_failing_channel_fails_the_run_and_says_which(aws: AwsEmulator, tmp_path: Path) -> None:
    with HangingServer() as hanging:
        result = run(
            aws,
            tmp_path,
            ALERT_SLACK_WEBHOOK=f"http://127.0.0.1:{hanging.port}/services/hook",
            ALERT_SLACK_TIMEOUT_SECONDS="1",
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "alert: FAILED" in result.stdout
    assert "PASS email  email: sent" in result.stdout
    assert "FAIL slack  slack: failed (SlackError: Slack did not answer within 1 s)" in result.stdout


def test_nothing_configured_fails(aws: AwsEmulator, tmp_path: Path) -> None:
    result = run(aws, tmp_path, ALERT_EMAIL_RECIPIENTS="", ALERT_SMS_RECIPIENTS="")
    assert result.returncode == 1
    assert "FAIL no alert channel is configured" in result.stdout


# --- the alert topics reach someone -----------------------------------------------------------------
def topic(aws: AwsEmulator, name: str) -> str:
    arn: str = aws.client("sns").create_topic(Name=name)["TopicArn"]
    return arn


def test_a_topic_without_a_confirmed_subscriber_is_warned_about(
    aws: AwsEmulator, slack: SlackCapture, tmp_path: Path
) -> None:
    alerts, operations = topic(aws, "cli-alerts-topic"), topic(aws, "cli-operations-topic")
    aws.client("sns").subscribe(TopicArn=alerts, Protocol="email", Endpoint="oncall@example.com")
    result = run(
        aws, tmp_path, ALERT_SLACK_WEBHOOK=slack.url, ALERTS_TOPIC_ARN=alerts, OPERATIONS_ALARM_TOPIC_ARN=operations
    )
    # a warning, not a failure: the channels themselves worked
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS AlertsTopic: 1 confirmed subscriber(s)" in result.stdout
    assert "WARN OperationsAlarmTopic has no confirmed subscriber: what it carries reaches nobody" in result.stdout
    # once someone subscribes (moto confirms at once), the warning goes
    aws.client("sns").subscribe(TopicArn=operations, Protocol="email", Endpoint="ops@example.com")
    result = run(
        aws, tmp_path, ALERT_SLACK_WEBHOOK=slack.url, ALERTS_TOPIC_ARN=alerts, OPERATIONS_ALARM_TOPIC_ARN=operations
    )
    assert "WARN" not in result.stdout and "PASS OperationsAlarmTopic: 1 confirmed subscriber(s)" in result.stdout


def test_unset_or_unreadable_topics_are_said(aws: AwsEmulator, slack: SlackCapture, tmp_path: Path) -> None:
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    result = run(aws, tmp_path, ALERT_SLACK_WEBHOOK=slack.url, ALERTS_TOPIC_ARN=missing)
    assert "WARN AlertsTopic: its subscriptions could not be listed (NotFoundException)" in result.stdout
    assert "NOTE OperationsAlarmTopic: OPERATIONS_ALARM_TOPIC_ARN is not set" in result.stdout
