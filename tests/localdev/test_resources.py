"""create_resources() against a real moto server: what the template declares is what exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localdev.template import aws_client, create_resources, describe_resources, load_template
from tests.support.local_stack import AwsEmulator, aws_emulator, drain_queue, moto_server

pytestmark = pytest.mark.integration


def test_queues_with_attributes_and_redrive_to_their_dlq(sample_aws: AwsEmulator) -> None:
    sqs = sample_aws.client("sqs")
    work = sample_aws.resources["Work"]
    attributes = sqs.get_queue_attributes(QueueUrl=work["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "1"
    assert attributes["QueueArn"] == work["Arn"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": sample_aws.resources["WorkDLQ"]["Arn"],
        "maxReceiveCount": 2,
    }
    dlq = sqs.get_queue_attributes(QueueUrl=sample_aws.resources["WorkDLQ"]["QueueUrl"], AttributeNames=["All"])
    assert dlq["Attributes"]["MessageRetentionPeriod"] == "1209600"
    ordered = sample_aws.resources["Ordered"]
    assert ordered["QueueName"] == "Ordered.fifo"
    fifo = sqs.get_queue_attributes(QueueUrl=ordered["QueueUrl"], AttributeNames=["All"])["Attributes"]
    assert fifo["FifoQueue"] == "true"
    assert fifo["ContentBasedDeduplication"] == "true"


def test_refs_resolve_to_what_moto_created(sample_aws: AwsEmulator) -> None:
    sqs = sample_aws.client("sqs")
    for logical_id in ("Work", "WorkDLQ", "Plain", "PlainDLQ", "Ordered"):
        queue = sample_aws.resources[logical_id]
        assert queue["Ref"] == queue["QueueUrl"] == sqs.get_queue_url(QueueName=queue["QueueName"])["QueueUrl"]
    described = describe_resources(load_template(sample_aws.template_path), sample_aws.endpoint_url)
    for logical_id in ("Work", "Table", "Alerts", "Ordered"):
        assert described[logical_id] == sample_aws.resources[logical_id]


def test_tables_with_gsi_ttl_and_billing(sample_aws: AwsEmulator) -> None:
    dynamodb = sample_aws.client("dynamodb")
    table = dynamodb.describe_table(TableName="Table")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["byStatus"]
    ttl = dynamodb.describe_time_to_live(TableName="Table")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    provisioned = dynamodb.describe_table(TableName="Provisioned")["Table"]
    assert provisioned["ProvisionedThroughput"]["ReadCapacityUnits"] == 2
    assert provisioned["ProvisionedThroughput"]["WriteCapacityUnits"] == 3


def test_topics(sample_aws: AwsEmulator) -> None:
    sns = sample_aws.client("sns")
    arn = sample_aws.resources["Alerts"]["Ref"]
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Sample alerts"


def test_create_resources_is_idempotent_and_keeps_messages(sample_aws: AwsEmulator) -> None:
    sqs = sample_aws.client("sqs")
    url = sample_aws.resources["WorkDLQ"]["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="survives")
    again = create_resources(sample_aws.endpoint_url, template=load_template(sample_aws.template_path))
    assert again == sample_aws.resources
    assert [message["Body"] for message in drain_queue(sqs, url)] == ["survives"]


def test_reset_recreates_an_empty_copy(sample_template: Path) -> None:
    with aws_emulator(sample_template) as aws:
        sqs = aws.client("sqs")
        sqs.send_message(QueueUrl=aws.resources["Work"]["QueueUrl"], MessageBody="x")
        resources = aws.reset()
        assert drain_queue(sqs, resources["Work"]["QueueUrl"]) == []
        assert aws.client("dynamodb").describe_table(TableName="Table")["Table"]["TableStatus"] == "ACTIVE"


def test_the_projects_template_creates_in_moto() -> None:
    with moto_server() as server:
        resources = create_resources(server.endpoint_url)
        queues = [logical_id for logical_id, value in resources.items() if "QueueUrl" in value]
        assert queues, "template.yaml declares queues"
        sqs = aws_client("sqs", server.endpoint_url, "us-east-1")
        for logical_id in queues:
            assert sqs.get_queue_url(QueueName=resources[logical_id]["QueueName"])["QueueUrl"]
