"""One pager path on the local stack: a real Alertmanager (Debian's `prometheus-alertmanager`, the
shipped prometheus/alertmanager.yml) posting to POST /api/alerts/alertmanager, and a CloudWatch alarm
message on OperationsAlarmTopic, each paged through the bundle's own channels (email, SMS, Slack),
listed by GET /api/alerts with its source, in the delivery history, and resolved by its source.

The shipped route, receiver and bearer credentials file are used as they are; only group_wait and
group_interval are 1 s here (shipped: 5 s and 1 minute), so that the resolved notice, which
Alertmanager sends at the group's next interval, arrives within the test's patience. The shipped
timings are what bench/time_to_page.py measures.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from localdev.stack import LocalStack
from localdev.template import aws_client
from tests.assets.prometheus_server import ensure_prometheus_installed
from tests.support.alertmanager import Alertmanager, render_alertmanager_config, running_alertmanager
from tests.support.local_stack import local_stack
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ALERTS_SECRET = "pager-alerts-secret"
WEBHOOK_SECRET = "pager-alertmanager-secret"
FAST = {"group_wait": "1s", "group_interval": "1s"}


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("ALERT")},
        "ALERTS_API_SECRET": ALERTS_SECRET,
        "ALERTMANAGER_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ALERT_EMAIL_RECIPIENTS": "ops@example.com",
        "ALERT_EMAIL_FROM": "monitoring@example.com",
        "ALERT_SMS_RECIPIENTS": "+15555550100",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "DB_DATABASE": "test",
    }
    with local_stack(environ=environ, schedules=False) as running:
        yield running


@pytest.fixture(scope="module")
def alertmanager(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    ensure_prometheus_installed()  # installs prometheus-alertmanager too
    workdir: Path = tmp_path_factory.mktemp("alertmanager")
    config = render_alertmanager_config(
        workdir, f"{stack.api_url}/api/alerts/alertmanager", WEBHOOK_SECRET, timings=FAST
    )
    with running_alertmanager(config, workdir) as manager:
        yield manager


def api(stack: LocalStack, path: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{stack.api_url}{path}", headers={"X-Alerts-Secret": ALERTS_SECRET})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def alerts_of(stack: LocalStack, alert_type: str) -> list[dict[str, Any]]:
    return list(api(stack, f"/api/alerts?type={alert_type}")["alerts"])


def delivered(stack: LocalStack, channel: str, text: str) -> list[dict[str, Any]]:
    return [
        message
        for message in stack.sent_messages()
        if message["channel"] == channel and text in f"{message.get('subject')} {message.get('body')}"
    ]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_prometheus_alert_pages_through_the_bundle_and_resolves(
    stack: LocalStack, alertmanager: Alertmanager
) -> None:
    # Given Prometheus hands Alertmanager a firing critical alert (as its rule evaluation does)
    started = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "AskProAIPagerPathTest", "severity": "critical", "monitor": "askproai"},
        "annotations": {"summary": "three payment failures", "runbook_url": "https://example.com/r.md"},
        "startsAt": iso(started),
        "generatorURL": "http://127.0.0.1:9090/graph",
    }
    alertmanager.post_alerts([alert])

    # Then the bundle has it, firing, marked as Prometheus', with Alertmanager's fingerprint
    [listed] = wait_until(
        lambda: alerts_of(stack, "prometheus_alert"),
        timeout=60,
        message=f"Alertmanager's notification never arrived; its log:\n{alertmanager.log()}",
    )
    assert (listed["status"], listed["severity"], listed["title"]) == (
        "firing",
        "critical",
        "Prometheus: AskProAIPagerPathTest",
    )
    assert listed["context"]["source"] == "prometheus"
    assert listed["labels"]["alertname"] == "AskProAIPagerPathTest" and listed["labels"]["fingerprint"]

    # And it is paged on every channel of a critical alert, each attempt in the delivery history
    wait_until(
        lambda: all(delivered(stack, channel, "AskProAIPagerPathTest") for channel in ("email", "sms", "slack")),
        timeout=60,
        message=f"not delivered on every channel: {stack.sent_messages()}",
    )
    history = wait_until(
        lambda: len(found := api(stack, f"/api/alerts/{listed['id']}/notifications")["notifications"]) >= 3 and found,
        timeout=30,
    )
    assert {attempt["channel"] for attempt in history} == {"email", "sms", "slack"}

    # When Prometheus says it ended, Alertmanager sends the resolved notice and the bundle resolves it
    alertmanager.post_alerts([{**alert, "endsAt": iso(datetime.now(UTC) - timedelta(seconds=1))}])
    wait_until(
        lambda: alerts_of(stack, "prometheus_alert")[0]["status"] == "resolved",
        timeout=60,
        message=f"never resolved; Alertmanager's log:\n{alertmanager.log()}",
    )
    [resolved] = alerts_of(stack, "prometheus_alert")
    assert resolved["resolution"] == "resolved in Alertmanager"
    wait_until(lambda: delivered(stack, "slack", "RESOLVED"), timeout=30, message=str(stack.sent_messages()))
    assert len(delivered(stack, "sms", "AskProAIPagerPathTest")) == 1  # no SMS for a resolved notice


def test_a_wrong_secret_in_the_shipped_config_is_refused(stack: LocalStack) -> None:
    body = json.dumps({"version": "4", "alerts": []}).encode()
    request = urllib.request.Request(
        f"{stack.api_url}/api/alerts/alertmanager",
        data=body,
        headers={"Authorization": f"Bearer {ALERTS_SECRET}", "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401


def test_a_cloudwatch_alarm_pages_through_the_bundle_and_ok_resolves_it(stack: LocalStack) -> None:
    sns = aws_client("sns", stack.moto_url, stack.region)
    topic = stack.resources["OperationsAlarmTopic"]["Arn"]

    def state(value: str) -> str:
        return json.dumps(
            {
                "AlarmName": "WebhookProcessorFunctionErrorsAlarm",
                "AlarmDescription": "WebhookProcessorFunction failed in 5 consecutive minutes.",
                "NewStateValue": value,
                "NewStateReason": f"Threshold Crossed: went to {value}",
                "StateChangeTime": iso(datetime.now(UTC)),
                "Region": stack.region,
                "AlarmArn": f"arn:aws:cloudwatch:{stack.region}:123456789012:alarm:WebhookProcessorFunctionErrorsAlarm",
            }
        )

    # When CloudWatch publishes the alarm's ALARM state to the operations topic
    sns.publish(TopicArn=topic, Message=state("ALARM"), Subject="ALARM: WebhookProcessorFunctionErrorsAlarm")

    # Then it is an alert of the bundle, marked as CloudWatch's, sent by email and Slack
    [listed] = wait_until(lambda: alerts_of(stack, "cloudwatch_alarm"), timeout=60, message="no cloudwatch_alarm")
    assert (listed["status"], listed["context"]["source"]) == ("firing", "cloudwatch")
    wait_until(
        lambda: (
            delivered(stack, "email", "CloudWatch alarm: WebhookProcessorFunctionErrorsAlarm")
            and delivered(stack, "slack", "WebhookProcessorFunctionErrorsAlarm")
        ),
        timeout=60,
        message=str(stack.sent_messages()),
    )

    # And OK resolves it
    sns.publish(TopicArn=topic, Message=state("OK"), Subject="OK: WebhookProcessorFunctionErrorsAlarm")
    wait_until(
        lambda: alerts_of(stack, "cloudwatch_alarm")[0]["status"] == "resolved", timeout=60, message="not resolved"
    )
    assert alerts_of(stack, "cloudwatch_alarm")[0]["resolution"] == "resolved in CloudWatch"
