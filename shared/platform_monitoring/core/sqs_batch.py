"""An SQS batch through Powertools' batch processing: each record's body to a callback, the partial
batch response back to Lambda.

A record whose callback raises is listed in `batchItemFailures`, so SQS delivers again only that
one (then, after its receives, the queue's dead-letter queue); the others are deleted. All records
failing is reported the same way, not raised (`raise_on_entire_batch_failure=False`): SQS retries
exactly those.

Why core: the webhook and the security events processors both take SQS batches, and they sit in
sibling packages that may not import each other. This needs nothing from the library, only
Powertools (a third-party library, which core may import), so the lowest layer fits and every layer
above may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# One message: its body and its SQS message ID (for the logs); raises to have it delivered again.
RecordHandler = Callable[[str, str | None], object]


class SqsBatch:
    """Runs `handle_message(body, message_id)` for each record of an SQS event."""

    def __init__(self, handle_message: RecordHandler) -> None:
        self._handle_message = handle_message
        self.processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def process(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The SQS event in, the partial batch response (`{"batchItemFailures": [...]}`) out."""
        response = process_partial_response(
            event=event, record_handler=self._record, processor=self.processor, context=context
        )
        return dict(response)

    def _record(self, record: SQSRecord) -> object:
        return self._handle_message(record.body, record.message_id)
