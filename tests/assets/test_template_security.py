"""What the security review asked of template.yaml, read from the SAM translator's expansion (what
CloudFormation receives): access logs, the tables that keep state, the alarm topic's subscription, each
role's secrets, and the IAM evaluator (tests/support/iam.py) the least-privilege test relies on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import iam

STATE_TABLES = ("AlertsTable", "AlertSilencesTable", "SecurityBlocksTable")
# Rebuilt within minutes or days by the bundle itself (windows, delivery dedupe, checkpoints,
# idempotency records of events Stripe no longer redelivers): no PITR, deleted with the stack.
DISPOSABLE_TABLES = (
    "AlertWindowsTable",
    "SecurityWindowsTable",
    "AlertDeliveriesTable",
    "AlertDeliveryHistoryTable",
    "IdempotencyTable",
    "StripeReconciliationTable",
)


@pytest.fixture(scope="module")
def expanded() -> dict[str, Any]:
    return iam.expand_template()


@pytest.fixture(scope="module")
def roles() -> dict[str, list[iam.Statement]]:
    return iam.function_roles()


def test_the_api_stage_writes_json_access_logs_with_the_authorizers_decision(expanded: dict[str, Any]) -> None:
    resources = expanded["Resources"]
    stage = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage")
    setting = stage["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(setting["Format"])  # one JSON object per request
    for variable in ("requestId", "identity.sourceIp", "status", "responseLatency", "authorizer.status"):
        assert f"$context.{variable}" in fields.values(), variable
    assert "$context.authorizer.error" in fields.values()
    assert resources["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize("table", STATE_TABLES)
def test_tables_that_keep_state_survive_deletion_and_restore_to_a_point_in_time(
    expanded: dict[str, Any], table: str
) -> None:
    resource = expanded["Resources"][table]
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    assert resource["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("table", DISPOSABLE_TABLES)
def test_the_other_tables_are_named_disposable(expanded: dict[str, Any], table: str) -> None:
    # A new table must be placed in one list or the other (and documented in docs/security.md).
    assert "PointInTimeRecoverySpecification" not in expanded["Resources"][table]["Properties"]


def test_every_table_is_in_one_of_the_two_lists(expanded: dict[str, Any]) -> None:
    tables = {name for name, r in expanded["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert tables == set(STATE_TABLES) | set(DISPOSABLE_TABLES)


def test_the_operations_alarm_topic_gets_the_on_call_address_only_when_one_is_given() -> None:
    with_email = iam.expand_template(parameters={"OperationsAlarmEmail": "oncall@example.com"})
    subscription = with_email["Resources"]["OperationsAlarmEmailSubscription"]
    assert subscription["Condition"] == "HasOperationsAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["TopicArn"] == {"Ref": "OperationsAlarmTopic"}
    assert with_email["Conditions"]["HasOperationsAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OperationsAlarmEmail"}, ""]}]
    }


def _secret_names(statements: list[iam.Statement], action: str) -> set[str]:
    names: set[str] = set()
    for statement in statements:
        if action in statement.actions:
            names |= {resource.rsplit("askproai-monitoring/", 1)[-1] for resource in statement.resources}
    return names


def test_each_role_reads_only_its_own_secrets_by_exact_name(roles: dict[str, list[iam.Statement]]) -> None:
    shared = {"sentry-dsn", "redis-url"}  # every function reports to Sentry; all but IpGuard write metrics
    own = {
        "HealthFunction": {"health-check-secret", "stripe-secret-key", "db-password"},
        "MetricsFunction": {"metrics-secret"},
        "StripeWebhookFunction": {"stripe-webhook-secret"},
        "ScheduledChecksFunction": {"stripe-secret-key", "db-password"},
        "StripeReconciliationFunction": {"stripe-secret-key"},
        "AlertDispatcherFunction": {"slack-webhook"},
        "AlertsApiFunction": {"alerts-api-secret", "alerts-admin-secret", "alertmanager-webhook-secret"},
        "EventsFunction": {"events-secret"},
        "SecurityEventsProcessorFunction": {"db-password"},
        "SecurityApiFunction": {"alerts-api-secret", "alerts-admin-secret"},
        "ReportsFunction": {"db-password", "slack-webhook"},
    }
    for function, statements in roles.items():
        # IpGuard writes no metric to the Redis store: its Sentry DSN only.
        expected = own.get(function, set()) | (shared if function != "IpGuardFunction" else {"sentry-dsn"})
        assert _secret_names(statements, "ssm:GetParameter") == expected, function
        assert _secret_names(statements, "secretsmanager:GetSecretValue") == {f"{n}-??????" for n in expected}
        for statement in statements:
            assert not any(r.endswith(("/*", ":*")) for r in statement.resources if "askproai-monitoring" in r)


def test_only_the_dispatcher_may_publish_beyond_the_alerts_topic(roles: dict[str, list[iam.Statement]]) -> None:
    elsewhere = "arn:aws:sns:us-east-1:123456789012:SomeoneElsesTopic"
    allowed = sorted(
        f for f, statements in roles.items() if iam.allowed(statements, iam.Call(f, "sns:Publish", elsewhere))
    )
    assert allowed == ["AlertDispatcherFunction"]  # SMS to a number: IAM knows no narrower resource


# -- the evaluator itself -------------------------------------------------------------------------


def _statement(effect: str, action: str, resource: str, **condition: dict[str, list[str]]) -> iam.Statement:
    return iam.Statement("test", effect, (action,), (resource,), conditions=condition)


def test_the_evaluator_matches_wildcards_as_iam_does() -> None:
    grant = _statement("Allow", "sqs:SendMessage*", "arn:aws:sqs:us-east-1:1:Queue?")
    assert iam.allowed([grant], iam.Call("F", "sqs:sendmessagebatch", "arn:aws:sqs:us-east-1:1:Queue1"))
    assert not iam.allowed([grant], iam.Call("F", "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:Queue12"))
    assert not iam.allowed([grant], iam.Call("F", "sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:1:Queue1"))


def test_a_deny_wins_and_nothing_granted_is_denied() -> None:
    call = iam.Call("F", "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/T")
    allow = _statement("Allow", "dynamodb:*", "*")
    assert iam.allowed([allow], call)
    assert not iam.allowed([allow, _statement("Deny", "dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/T")], call)
    assert not iam.allowed([], call)


def test_conditions_restrict_a_grant() -> None:
    grant = _statement("Allow", "sns:Publish", "*", StringEquals={"sns:Protocol": ["sms"]})
    assert iam.allowed([grant], iam.Call("F", "sns:Publish", "*", (("sns:Protocol", "sms"),)))
    assert not iam.allowed([grant], iam.Call("F", "sns:Publish", "*"))


def test_moto_log_entries_become_calls_of_the_signing_function() -> None:
    transact = {
        "access_key": "role-Fn",
        "service": "dynamodb",
        "target": "DynamoDB_20120810.TransactWriteItems",
        "body": json.dumps({"TransactItems": [{"Put": {"TableName": "A"}}, {"Delete": {"TableName": "B"}}]}),
    }
    assert [(c.function, c.action, c.resource) for c in iam.parse_entry(transact)] == [
        ("Fn", "dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/B"),
        ("Fn", "dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/A"),
    ]
    sms = {"access_key": "role-Fn", "service": "sns", "body": "Action=Publish&PhoneNumber=%2B15555550100"}
    assert [(c.action, c.resource) for c in iam.parse_entry(sms)] == [("sns:Publish", "*")]
    assert iam.parse_entry({**sms, "access_key": "testing"}) == []  # the tests' own clients


def _variables(expanded: dict[str, Any], function: str) -> dict[str, Any]:
    variables: dict[str, Any] = expanded["Resources"][function]["Properties"]["Environment"]["Variables"]
    return variables


def test_database_credentials_only_where_mysql_is_used_and_no_redis_url_in_the_authorizer(
    expanded: dict[str, Any], roles: dict[str, list[iam.Statement]]
) -> None:
    with_database = sorted(f for f in roles if "DB_PASSWORD" in _variables(expanded, f))
    assert with_database == [
        "HealthFunction",
        "ReportsFunction",
        "ScheduledChecksFunction",
        "SecurityEventsProcessorFunction",
    ]
    for function in with_database:
        assert {"DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME"} <= set(_variables(expanded, function))
    assert _variables(expanded, "IpGuardFunction")["REDIS_URL"] == ""
    assert all(_variables(expanded, f)["REDIS_URL"] == {"Ref": "RedisUrl"} for f in roles if f != "IpGuardFunction")


def test_outside_a_vpc_a_boundary_takes_the_vpc_policys_network_interfaces_away() -> None:
    eni = iam.Call("HealthFunction", "ec2:CreateNetworkInterface", "*")
    outside = iam.function_boundaries()
    assert all(boundary is not None and not iam.allowed(boundary, eni) for boundary in outside.values())
    inside = iam.function_boundaries(parameters={"VpcSubnetIds": "subnet-1", "VpcSecurityGroupIds": "sg-1"})
    assert set(inside.values()) == {None}  # in a VPC, SAM's AWSLambdaVPCAccessExecutionRole applies as is


def test_a_call_outside_the_boundary_is_denied_even_when_the_role_grants_it() -> None:
    call = iam.Call("F", "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:1:table/T")
    role = [_statement("Allow", "dynamodb:GetItem", "*")]
    assert iam.allowed(role, call, boundary=[_statement("Allow", "dynamodb:*", "arn:aws:dynamodb:*:1:table/*")])
    assert not iam.allowed(role, call, boundary=[_statement("Allow", "sqs:*", "*")])


def test_sqs_batches_are_authorised_as_their_single_message_action() -> None:
    entry = {
        "access_key": "role-Fn",
        "service": "sqs",
        "target": "AmazonSQS.SendMessageBatch",
        "body": json.dumps({"QueueUrl": "http://127.0.0.1:1/123456789012/Work"}),
    }
    assert [(c.action, c.resource) for c in iam.parse_entry(entry)] == [
        ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:Work")
    ]
