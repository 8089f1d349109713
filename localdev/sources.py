"""Event sources: what Lambda's SQS poller, SNS, EventBridge schedules do for the template's functions.

- SqsPoller: receives batches, invokes, deletes what succeeded. A failed batch (or the items the
  function lists in batchItemFailures) is left alone, so it comes back after the queue's visibility
  timeout and the queue's RedrivePolicy moves it to its dead-letter queue after maxReceiveCount.
- SnsDelivery: SNS invokes Lambda asynchronously. moto cannot invoke a process of ours, so each
  subscribed function gets a private SQS queue subscribed to the topic; every notification becomes
  one SNS-shaped invocation, retried as the function's EventInvokeConfig says (Lambda's default: twice),
  then put on the function's DeadLetterQueue (the event as the body, ErrorCode/ErrorMessage attributes,
  as Lambda does) or, without one, dropped.
- ScheduleRunner: rate(N unit) schedules with EventBridge's "Scheduled Event" payload.
- SentMessageTap: prints every email (SES) and SNS notification/SMS moto records, as it is sent.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from localdev.runtime import InvocationResult
from localdev.services import moto_data
from localdev.template import ACCOUNT_ID, ScheduleEvent, SnsEvent, SqsEvent, aws_client

Invoke = Callable[[dict[str, Any]], InvocationResult]
Log = Callable[[str], None]

SNS_ATTEMPTS = 3  # Lambda retries a failed asynchronous invocation twice
SNS_RETRY_SECONDS = 2  # locally short; Lambda waits about 1 and then 2 minutes


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------
# SQS
# ---------------------------------------------------------------------------


def _message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API message attributes in the Lambda event's spelling."""
    converted = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
            "stringListValues": list(value.get("StringListValues") or []),
            "binaryListValues": [
                base64.b64encode(item).decode() if isinstance(item, bytes) else item
                for item in value.get("BinaryListValues") or []
            ],
            "dataType": value.get("DataType", "String"),
        }
        if converted[name]["stringValue"] is None:
            del converted[name]["stringValue"]
        if converted[name]["binaryValue"] is None:
            del converted[name]["binaryValue"]
    return converted


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller sends for a batch of received messages."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": _message_attributes(message.get("MessageAttributes") or {}),
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def failed_message_ids(result: InvocationResult, message_ids: list[str], report_failures: bool) -> set[str]:
    """Which messages of the batch stay on the queue, by Lambda's rules for the function's answer.

    Without ReportBatchItemFailures any error fails the whole batch. With it, the answer's
    batchItemFailures decide; an answer Lambda cannot use (bad JSON, empty or unknown
    itemIdentifier) fails the whole batch, and an empty or null list succeeds it.
    """
    everything = set(message_ids)
    if result.error is not None:
        return everything
    if not report_failures:
        return set()
    reported = _reported_failures(result.payload, everything)
    return everything if reported is None else reported


def _reported_failures(payload: Any, everything: set[str]) -> set[str] | None:
    """The batchItemFailures ids, or None for an answer Lambda cannot use."""
    if not isinstance(payload, dict | None):
        return None
    failures = (payload or {}).get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    ids = {item.get("itemIdentifier") if isinstance(item, dict) else None for item in failures}
    if not all(isinstance(identifier, str) and identifier in everything for identifier in ids):
        return None
    return {str(identifier) for identifier in ids}


class _Loop(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception as error:  # keep polling: a hiccup must not end the source
                if self.stopping.is_set():
                    return
                self.on_error(error)
                self.stopping.wait(1.0)

    def step(self) -> None:
        raise NotImplementedError

    def on_error(self, error: Exception) -> None:
        raise NotImplementedError


class SqsPoller(_Loop):
    """Lambda's SQS event source mapping for one function and one queue."""

    def __init__(
        self,
        function: str,
        event: SqsEvent,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        *,
        endpoint_url: str | None,
        region: str,
        log: Log,
        wait_seconds: int = 1,
    ) -> None:
        super().__init__(f"sqs-{function}-{event.name}")
        self.function = function
        self.event = event
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.invoke = invoke
        self.region = region
        self.log = log
        self.wait_seconds = wait_seconds
        self.sqs = aws_client("sqs", endpoint_url, region)
        self.batches = 0

    def _receive(self, wait: int, count: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, count)),
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages") or []
        return messages

    def receive_batch(self) -> list[dict[str, Any]]:
        batch = self._receive(self.wait_seconds, self.event.batch_size)
        window_end = time.monotonic() + self.event.batching_window_seconds
        while batch and len(batch) < self.event.batch_size and not self.stopping.is_set():
            more = self._receive(0, self.event.batch_size - len(batch))
            if not more:
                if time.monotonic() >= window_end:
                    break
                self.stopping.wait(0.2)
                continue
            batch.extend(more)
        return batch

    def step(self) -> None:
        batch = self.receive_batch()
        if not batch or self.stopping.is_set():
            return
        self.batches += 1
        ids = [message["MessageId"] for message in batch]
        result = self.invoke(sqs_event(batch, self.queue_arn, self.region))
        failed = failed_message_ids(result, ids, self.event.report_batch_item_failures)
        done = [message for message in batch if message["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        queue = self.queue_arn.rsplit(":", 1)[-1]
        outcome = "ok" if result.ok else f"error {result.error.get('errorType') if result.error else ''}"
        self.log(
            f"SQS {queue} -> {self.function}: {len(batch)} message(s), {len(done)} done, "
            f"{len(failed)} left for retry ({outcome}, {result.duration_ms:.0f} ms"
            f"{', cold start' if result.cold else ''})"
        )

    def on_error(self, error: Exception) -> None:
        self.log(f"SQS poller {self.name}: {error}")


# ---------------------------------------------------------------------------
# SNS
# ---------------------------------------------------------------------------


def sns_event(notification: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event SNS sends to a subscribed function, from the notification JSON SNS delivers to SQS."""
    attributes = {
        name: {"Type": value.get("Type"), "Value": value.get("Value")}
        for name, value in (notification.get("MessageAttributes") or {}).items()
    }
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": notification.get("SignatureVersion", "1"),
                    "Timestamp": notification.get("Timestamp") or _now_iso(),
                    "Signature": notification.get("Signature", "EXAMPLE"),
                    "SigningCertUrl": notification.get("SigningCertURL", ""),
                    "MessageId": notification.get("MessageId") or str(uuid.uuid4()),
                    "Message": notification.get("Message", ""),
                    "MessageAttributes": attributes,
                    "Type": notification.get("Type", "Notification"),
                    "UnsubscribeUrl": notification.get("UnsubscribeURL", ""),
                    "TopicArn": notification.get("TopicArn", ""),
                    "Subject": notification.get("Subject"),
                },
            }
        ]
    }


class SnsDelivery(_Loop):
    """Delivers one topic's notifications to one function (through a private SQS queue in moto)."""

    def __init__(
        self,
        function: str,
        event: SnsEvent,
        topic_arn: str,
        invoke: Invoke,
        *,
        endpoint_url: str | None,
        region: str,
        log: Log,
        attempts: int = SNS_ATTEMPTS,
        dead_letter_queue_url: str | None = None,
    ) -> None:
        super().__init__(f"sns-{function}-{event.name}")
        self.function = function
        self.attempts = attempts
        self.dead_letter_queue_url = dead_letter_queue_url
        self.event = event
        self.topic_arn = topic_arn
        self.invoke = invoke
        self.region = region
        self.log = log
        self.sqs = aws_client("sqs", endpoint_url, region)
        sns = aws_client("sns", endpoint_url, region)
        name = f"localdev-sns-{function}-{event.name}"[:80]
        self.queue_url: str = self.sqs.create_queue(
            QueueName=name, Attributes={"VisibilityTimeout": str(SNS_RETRY_SECONDS)}
        )["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes = {"FilterPolicy": json.dumps(event.filter_policy)} if event.filter_policy else {}
        self.subscription_arn: str = sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes, ReturnSubscriptionArn=True
        )["SubscriptionArn"]

    def step(self) -> None:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]
        )
        for message in response.get("Messages") or []:
            attempt = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
            notification = json.loads(message["Body"])
            event = sns_event(notification, self.subscription_arn)
            result = self.invoke(event)
            topic = self.topic_arn.rsplit(":", 1)[-1]
            last = attempt >= self.attempts
            error = result.error or {}
            verdict = "will retry"
            if not result.ok and last:
                verdict = self.dead_letter(event, error)
            if result.ok or last:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            if result.ok:
                self.log(f"SNS {topic} -> {self.function}: ok ({result.duration_ms:.0f} ms)")
            else:
                self.log(
                    f"SNS {topic} -> {self.function}: attempt {attempt}/{self.attempts} failed "
                    f"({error.get('errorType')}: {error.get('errorMessage')}); {verdict}"
                )

    def dead_letter(self, event: dict[str, Any], error: Mapping[str, Any]) -> str:
        """After the last attempt: the event to the function's dead-letter queue, as Lambda does."""
        if not self.dead_letter_queue_url:
            return "dropped after the last attempt (no DeadLetterQueue)"
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": str(uuid.uuid4())},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": str(error.get("errorMessage") or "")[:1000] or "-"},
        }
        self.sqs.send_message(
            QueueUrl=self.dead_letter_queue_url, MessageBody=json.dumps(event), MessageAttributes=attributes
        )
        return "sent to the DeadLetterQueue after the last attempt"

    def on_error(self, error: Exception) -> None:
        self.log(f"SNS delivery {self.name}: {error}")


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------


def scheduled_event(rule_name: str, region: str, account_id: str = ACCOUNT_ID) -> dict[str, Any]:
    """EventBridge's payload for a scheduled rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account_id}:rule/{rule_name}"],
        "detail": {},
    }


class ScheduleRunner(_Loop):
    """Runs one function on one rate() schedule; the first run comes one period after start, as in AWS."""

    def __init__(
        self,
        function: str,
        event: ScheduleEvent,
        invoke: Invoke,
        *,
        region: str,
        log: Log,
        interval: float | None = None,
    ) -> None:
        super().__init__(f"schedule-{function}-{event.name}")
        self.function = function
        self.event = event
        self.invoke = invoke
        self.region = region
        self.log = log
        self.interval = interval or event.interval_seconds or 60.0
        self.next_run = time.monotonic() + self.interval
        self.runs = 0

    def payload(self) -> dict[str, Any]:
        if self.event.input is not None:
            data: dict[str, Any] = json.loads(self.event.input)
            return data
        return scheduled_event(f"{self.function}{self.event.name}", self.region)

    def run_once(self) -> InvocationResult:
        self.runs += 1
        result = self.invoke(self.payload())
        status = "ok" if result.ok else f"error {(result.error or {}).get('errorType')}"
        self.log(f"schedule {self.event.expression} -> {self.function}: {status} ({result.duration_ms:.0f} ms)")
        return result

    def step(self) -> None:
        delay = self.next_run - time.monotonic()
        if delay > 0:
            self.stopping.wait(min(delay, 1.0))
            return
        # Fixed rate: a slow run does not shift the schedule, and missed periods are not replayed.
        self.next_run += self.interval * max(1, int((time.monotonic() - self.next_run) // self.interval) + 1)
        self.run_once()

    def on_error(self, error: Exception) -> None:
        self.log(f"schedule {self.name}: {error}")


# ---------------------------------------------------------------------------
# Sent messages
# ---------------------------------------------------------------------------


def _raw_email_summary(raw: str) -> tuple[str, str]:
    message = email.message_from_string(raw, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain", "html")) if message.is_multipart() else message
    text = ""
    if body is not None:
        with contextlib.suppress(Exception):
            text = str(body.get_content())
    return str(message.get("Subject", "")), text


class SentMessageTap(_Loop):
    """Polls moto's /moto-api/data.json and reports each new email, SNS notification and SMS once."""

    def __init__(self, moto_url: str, log: Log, *, interval: float = 1.0, max_body: int = 2000) -> None:
        super().__init__("sent-messages")
        self.moto_url = moto_url.rstrip("/")
        self.log = log
        self.interval = interval
        self.max_body = max_body
        self.messages: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def poll(self) -> list[dict[str, Any]]:
        """Fetch moto's records once; report and return the new ones."""
        data = moto_data(self.moto_url)
        found: list[dict[str, Any]] = []
        ses = data.get("ses") or {}
        for item in ses.get("Message") or []:
            found.append(
                {
                    "id": f"ses:{item.get('id')}",
                    "channel": "email",
                    "source": item.get("source"),
                    "to": _destinations(item.get("destinations")),
                    "subject": item.get("subject"),
                    "body": item.get("body"),
                }
            )
        for item in ses.get("RawMessage") or []:
            subject, body = _raw_email_summary(str(item.get("raw_data") or ""))
            found.append(
                {
                    "id": f"ses:{item.get('id')}",
                    "channel": "email",
                    "source": item.get("source"),
                    "to": _destinations(item.get("destinations")),
                    "subject": subject,
                    "body": body,
                }
            )
        sns = data.get("sns") or {}
        for topic in sns.get("Topic") or []:
            for notification in topic.get("sent_notifications") or []:
                message_id, message, subject = notification[0], notification[1], notification[2]
                found.append(
                    {
                        "id": f"sns:{message_id}",
                        "channel": "sns",
                        "to": topic.get("arn"),
                        "subject": subject,
                        "body": message,
                    }
                )
        for sms in sns.get("SMS") or []:
            found.append(
                {
                    "id": f"sms:{sms.get('message_id')}",
                    "channel": "sms",
                    "to": sms.get("phone_number"),
                    "subject": None,
                    "body": sms.get("message"),
                }
            )
        new = []
        with self._lock:
            for item in found:
                if item["id"] not in self._seen:
                    self._seen.add(item["id"])
                    self.messages.append(item)
                    new.append(item)
        for item in new:
            self.log(self.describe(item))
        return new

    def describe(self, item: Mapping[str, Any]) -> str:
        to = item["to"] if isinstance(item["to"], str) else ", ".join(item["to"] or [])
        head = {"email": f"email from {item.get('source')} to {to}", "sns": f"SNS to {to}", "sms": f"SMS to {to}"}
        body = str(item.get("body") or "")
        if len(body) > self.max_body:
            body = body[: self.max_body] + " [...]"
        subject = f" | {item['subject']}" if item.get("subject") else ""
        indented = "\n".join("    " + line for line in body.splitlines())
        return f"SENT {head[item['channel']]}{subject}\n{indented}"

    def step(self) -> None:
        self.poll()
        self.stopping.wait(self.interval)

    def on_error(self, error: Exception) -> None:
        pass  # moto busy or stopping: the next poll catches up


def _destinations(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [address for key in ("ToAddresses", "CcAddresses", "BccAddresses") for address in value.get(key) or []]
    if isinstance(value, list):
        return [str(address) for address in value]
    return []
