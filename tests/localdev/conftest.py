"""A throwaway SAM project (template, handler, layer) that exercises every part of localdev."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.local_stack import AwsEmulator, aws_emulator

SAMPLE_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
  Secret:
    Type: String
    Default: "ssm:/sample/secret"
  Subnets:
    Type: CommaDelimitedList
    Default: ""
Conditions:
  InVpc: !Not [!Equals [!Join ["", !Ref Subnets], ""]]
  IsDev: !Equals [!Ref Stage, dev]
Globals:
  Function:
    Runtime: python3.11
    Timeout: 2
    MemorySize: 256
    Layers: [!Ref Lib]
    Environment:
      Variables:
        STAGE: !Ref Stage
        SECRET: !Ref Secret
        SHARED: from-globals
        MODE: !If [IsDev, development, production]
        VPC: !If [InVpc, "yes", "no"]
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      GatewayResponses:
        DEFAULT_4XX:
          ResponseTemplates:
            application/json: >-
              {"error": {"code": "$context.error.responseType", "message": $context.error.messageString}}
  Lib:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.lambda_handler
      MemorySize: 384
      Environment:
        Variables:
          SHARED: from-function
          QUEUE_URL: !Ref Work
          QUEUE_ARN: !GetAtt Work.Arn
          QUEUE_NAME: !GetAtt Work.QueueName
          TABLE: !Ref Table
          TOPIC_ARN: !Ref Alerts
          LOG_GROUP: !Sub "/aws/lambda/${Fn}"
          SUBBED: !Sub "${AWS::Region}:${AWS::AccountId}:${Work.QueueName}:${Stage}"
          JOINED: !Join ["-", [!Select [1, [a, b, c]], !Ref AWS::Partition]]
          NOVALUE: !If [InVpc, "x", !Ref AWS::NoValue]
      EventInvokeConfig:
        MaximumRetryAttempts: 1
      DeadLetterQueue:
        Type: SQS
        TargetArn: !GetAtt FnDLQ.Arn
      Events:
        Get:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/items/{id}", Method: get}
        Literal:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/items/special", Method: post}
        Ack:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/alerts/{id}/ack", Method: post}
        Files:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: "/files/{path+}", Method: any}
        Fail:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /fail, Method: get}
        Slow:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /slow, Method: get}
        Send:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /send, Method: post}
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
        Plain:
          Type: SQS
          Properties:
            Queue: !GetAtt Plain.Arn
            BatchSize: 10
        Notify:
          Type: SNS
          Properties: {Topic: !Ref Alerts}
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(5 minutes)}
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.lambda_handler
      Timeout: 7
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDLQ.Arn
        maxReceiveCount: 2
  WorkDLQ:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Plain:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt PlainDLQ.Arn
        maxReceiveCount: 2
  PlainDLQ:
    Type: AWS::SQS::Queue
  FnDLQ:
    Type: AWS::SQS::Queue
  Ordered:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
  Alerts:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: Sample alerts
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: status, AttributeType: S}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: byStatus
          KeySchema: [{AttributeName: status, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  Provisioned:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: N}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ProvisionedThroughput: {ReadCapacityUnits: "2", WriteCapacityUnits: "3"}
"""

SAMPLE_HANDLER = """\
import json
import os
import sys
import time

import boto3
from samplelib import GREETING

print("init", os.getpid(), flush=True)


def lambda_handler(event, context):
    if "httpMethod" in event:
        return api(event, context)
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs":
        failed = [r["messageId"] for r in records if "fail" in r["body"]]
        print("sqs", len(records), "failed", len(failed))
        if any("crash" in r["body"] for r in records):
            raise RuntimeError("batch crashed")
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
    if records and records[0].get("EventSource") == "aws:sns":
        print("sns", records[0]["Sns"]["Message"])
        if "fail" in records[0]["Sns"]["Message"]:
            raise RuntimeError("sns failed")
        return None
    action = event.get("action")
    if action == "fail":
        raise ValueError("asked to fail")
    slept = None
    if action == "sleep":
        began = time.time()
        time.sleep(event["seconds"])
        slept = [began, time.time()]  # when this invocation slept (the pool test: did they overlap?)
    if action == "exit":
        os._exit(3)
    if action == "env":
        return dict(os.environ)
    return {
        "event": event,
        "pid": os.getpid(),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "greeting": GREETING,
        "sys_path": sys.path[:3],
        "slept": slept,
    }


def api(event, context):
    if event["path"] == "/fail":
        raise RuntimeError("api failure")
    if event["path"] == "/slow":
        time.sleep(10)
    if event["path"] == "/send":
        boto3.client("sns").publish(TopicArn=os.environ["TOPIC_ARN"], Message="topic body", Subject="Topic subject")
        boto3.client("ses").send_email(
            Source="monitoring@example.com",
            Destination={"ToAddresses": ["ops@example.com"]},
            Message={"Subject": {"Data": "Mail subject"}, "Body": {"Text": {"Data": "mail body"}}},
        )
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Single": "one"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps({"event": event, "greeting": GREETING, "queue": os.environ.get("QUEUE_URL")}),
    }
"""


def write_sample_project(root: Path) -> Path:
    """template.yaml, fn/app.py and layer/samplelib under root; returns the template path."""
    (root / "fn").mkdir(parents=True, exist_ok=True)
    (root / "layer" / "samplelib").mkdir(parents=True, exist_ok=True)
    (root / "template.yaml").write_text(SAMPLE_TEMPLATE, encoding="utf-8")
    (root / "fn" / "app.py").write_text(SAMPLE_HANDLER, encoding="utf-8")
    (root / "layer" / "samplelib" / "__init__.py").write_text('GREETING = "hello from the layer"\n', encoding="utf-8")
    (root / ".env.example").write_text(
        textwrap.dedent(
            """\
            # sample defaults
            SECRET=from-dotenv
            ALERT_EMAIL_FROM=monitoring@example.com
            DB_DATABASE=
            EXTRA=only-in-dotenv
            """
        ),
        encoding="utf-8",
    )
    return root / "template.yaml"


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_project(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def sample_aws(sample_template: Path) -> Iterator[AwsEmulator]:
    with aws_emulator(sample_template) as emulator:
        yield emulator
