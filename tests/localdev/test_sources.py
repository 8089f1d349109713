"""Event sources: Lambda's batch rules, event shapes, and the SQS poller against moto's redrive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from localdev.runtime import InvocationResult
from localdev.sources import SentMessageTap, SqsPoller, failed_message_ids, scheduled_event, sns_event, sqs_event
from localdev.template import SqsEvent
from tests.support.local_stack import AwsEmulator, drain_queue, queue_depth
from tests.support.waiting import wait_until

IDS = ["m1", "m2", "m3"]


def ok(payload: Any) -> InvocationResult:
    return InvocationResult("r", payload=payload)


@pytest.mark.parametrize(
    ("result", "report", "failed"),
    [
        (ok(None), False, set()),
        (InvocationResult("r", error={"errorType": "X"}), False, set(IDS)),
        (InvocationResult("r", error={"errorType": "X"}), True, set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": "m2"}]}), False, set()),  # not opted in: ignored
        (ok({"batchItemFailures": [{"itemIdentifier": "m2"}]}), True, {"m2"}),
        (ok({"batchItemFailures": []}), True, set()),
        (ok({"batchItemFailures": None}), True, set()),
        (ok({}), True, set()),
        (ok(None), True, set()),
        (ok({"batchItemFailures": [{"itemIdentifier": ""}]}), True, set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": None}]}), True, set(IDS)),
        (ok({"batchItemFailures": [{"wrongKey": "m1"}]}), True, set(IDS)),
        (ok({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}), True, set(IDS)),
        (ok({"batchItemFailures": "m1"}), True, set(IDS)),
        (ok("not json object"), True, set(IDS)),
    ],
)
def test_lambda_partial_batch_rules(result: InvocationResult, report: bool, failed: set[str]) -> None:
    assert failed_message_ids(result, IDS, report) == failed


def test_sqs_event_shape() -> None:
    event = sqs_event(
        [
            {
                "MessageId": "m1",
                "ReceiptHandle": "rh",
                "Body": "hello",
                "MD5OfBody": "md5",
                "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
                "MessageAttributes": {
                    "kind": {"StringValue": "alert", "DataType": "String"},
                    "raw": {"BinaryValue": b"\x00", "DataType": "Binary"},
                },
            }
        ],
        "arn:aws:sqs:us-east-1:123456789012:Work",
        "us-east-1",
    )
    (record,) = event["Records"]
    assert record["messageId"] == "m1"
    assert record["receiptHandle"] == "rh"
    assert record["body"] == "hello"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "alert",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["raw"]["binaryValue"] == "AA=="
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:Work"
    assert record["awsRegion"] == "us-east-1"


def test_sns_and_schedule_event_shapes() -> None:
    notification = {
        "Type": "Notification",
        "MessageId": "id-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:Alerts",
        "Subject": "S",
        "Message": "M",
        "Timestamp": "2024-01-01T00:00:00.000Z",
        "MessageAttributes": {"severity": {"Type": "String", "Value": "critical"}},
    }
    (record,) = sns_event(notification, "arn:sub")["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == "arn:sub"
    assert record["Sns"]["Message"] == "M"
    assert record["Sns"]["Subject"] == "S"
    assert record["Sns"]["TopicArn"] == notification["TopicArn"]
    assert record["Sns"]["MessageAttributes"] == {"severity": {"Type": "String", "Value": "critical"}}
    scheduled = scheduled_event("FnTick", "us-east-1")
    assert scheduled["detail-type"] == "Scheduled Event"
    assert scheduled["source"] == "aws.events"
    assert scheduled["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/FnTick"]
    assert scheduled["detail"] == {}


# ---------------------------------------------------------------------------
# The poller against moto server
# ---------------------------------------------------------------------------


class Recorder:
    """A fake function: fails the bodies containing "fail" (reported, or the whole batch by raising)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any]) -> InvocationResult:
        bodies = [record["body"] for record in event["Records"]]
        self.batches.append(bodies)
        failing = [record["messageId"] for record in event["Records"] if "fail" in record["body"]]
        if self.mode == "raise" and failing:
            return InvocationResult("r", error={"errorType": "RuntimeError", "errorMessage": "batch failed"})
        return InvocationResult("r", payload={"batchItemFailures": [{"itemIdentifier": i} for i in failing]})


@pytest.fixture
def clean(sample_aws: AwsEmulator) -> Iterator[AwsEmulator]:
    sqs = sample_aws.client("sqs")
    for logical_id in ("Work", "WorkDLQ", "Plain", "PlainDLQ"):
        drain_queue(sqs, sample_aws.resources[logical_id]["QueueUrl"])
    yield sample_aws


def run_poller(aws: AwsEmulator, queue: str, event: SqsEvent, function: Recorder) -> SqsPoller:
    resources = aws.resources[queue]
    poller = SqsPoller(
        "Fn",
        event,
        resources["QueueUrl"],
        resources["Arn"],
        function,
        endpoint_url=aws.endpoint_url,
        region=aws.region,
        log=lambda line: None,
    )
    poller.start()
    return poller


@pytest.mark.integration
def test_partial_batch_failures_reach_the_dlq_after_max_receive_count(clean: AwsEmulator) -> None:
    sqs = clean.client("sqs")
    work, dlq = clean.resources["Work"]["QueueUrl"], clean.resources["WorkDLQ"]["QueueUrl"]
    for body in ("ok-1", "fail-1", "ok-2", "fail-2"):
        sqs.send_message(QueueUrl=work, MessageBody=body)
    function = Recorder("report")
    poller = run_poller(
        clean, "Work", SqsEvent("Jobs", "Work", batch_size=5, report_batch_item_failures=True), function
    )
    try:
        wait_until(lambda: queue_depth(sqs, work) == 0 and queue_depth(sqs, dlq) == 2, timeout=20)
    finally:
        poller.stop()
        poller.join(10)
    assert sorted(message["Body"] for message in drain_queue(sqs, dlq)) == ["fail-1", "fail-2"]
    seen = [body for batch in function.batches for body in batch]
    assert seen.count("ok-1") == 1 and seen.count("ok-2") == 1  # successes are deleted, never redelivered
    assert seen.count("fail-1") == 2 and seen.count("fail-2") == 2  # maxReceiveCount: 2, then the DLQ


@pytest.mark.integration
def test_an_error_without_reporting_fails_the_whole_batch(clean: AwsEmulator) -> None:
    sqs = clean.client("sqs")
    plain, dlq = clean.resources["Plain"]["QueueUrl"], clean.resources["PlainDLQ"]["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=plain, Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(("ok", "fail"))]
    )
    function = Recorder("raise")
    poller = run_poller(clean, "Plain", SqsEvent("Plain", "Plain", batch_size=10), function)
    try:
        wait_until(lambda: queue_depth(sqs, plain) == 0 and queue_depth(sqs, dlq) == 2, timeout=20)
    finally:
        poller.stop()
        poller.join(10)
    assert sorted(message["Body"] for message in drain_queue(sqs, dlq)) == ["fail", "ok"]


@pytest.mark.integration
def test_sent_message_tap_reports_each_message_once(clean: AwsEmulator) -> None:
    lines: list[str] = []
    tap = SentMessageTap(clean.endpoint_url, lines.append)
    tap.poll()  # whatever earlier tests sent
    lines.clear()
    clean.client("ses").send_email(
        Source="monitoring@example.com",
        Destination={"ToAddresses": ["ops@example.com"]},
        Message={"Subject": {"Data": "Disk full"}, "Body": {"Text": {"Data": "95% used"}}},
    )
    clean.client("sns").publish(TopicArn=clean.resources["Alerts"]["Arn"], Message=json.dumps({"a": 1}), Subject="T")
    clean.client("sns").publish(PhoneNumber="+15555550100", Message="sms text")
    new = tap.poll()
    assert {item["channel"] for item in new} == {"email", "sns", "sms"}
    assert tap.poll() == []
    text = "\n".join(lines)
    assert "email from monitoring@example.com to ops@example.com | Disk full" in text
    assert "95% used" in text
    assert "SMS to +15555550100" in text


def test_the_sent_message_tap_asks_again_when_moto_answers_500(monkeypatch: pytest.MonkeyPatch) -> None:
    # moto's data.json dumps every backend while requests change them, and now and then answers 500
    import io
    import urllib.error
    import urllib.request

    from localdev.sources import SentMessageTap

    answers: list[object] = [
        urllib.error.HTTPError("http://moto/moto-api/data.json", 500, "INTERNAL SERVER ERROR", {}, None),  # type: ignore[arg-type]
        io.BytesIO(b'{"ses": {}}'),
    ]

    def urlopen(url: str, timeout: float) -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assert SentMessageTap("http://moto", lambda line: None).poll() == []
    assert answers == []
    # the tests' own reads (AwsEmulator.sent_messages -> MotoServer.data) ask again the same way
    from localdev.services import MotoServer

    answers.extend([urllib.error.HTTPError("http://moto", 500, "ERROR", {}, None), io.BytesIO(b"{}")])  # type: ignore[arg-type]
    assert MotoServer(port=1).data() == {}
    assert answers == []
