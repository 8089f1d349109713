"""Least privilege, checked: the calls each function made (moto's call log) against its role's statements.

    calls = read_call_log(path)                  # [Call(function, action, resource)], from LOCAL_AWS_CALL_LOG
    roles = function_roles()                     # logical id -> [Statement], template.yaml through SAM
    boundaries = function_boundaries()           # logical id -> [Statement] | None
    denied = [c for c in calls if not allowed(roles[c.function], c, boundaries[c.function])]
    unused = unused_grants(roles, calls)

The roles come from the SAM translator's own expansion of template.yaml (policy templates such as
SQSSendMessagePolicy become their actions and ARNs), each intrinsic resolved with the names and ARNs
the local stack gives the template's resources (localdev.template.describe_resources: account
123456789012, us-east-1), so an ARN here is the ARN moto answers with.

A small evaluator rather than a package: PyPI's IAM tools here lint policies (parliament) or write
them (policy-sentry); none evaluates a request against a statement list offline. This one does what
the template uses: Allow and Deny, `*`/`?` in actions (case-insensitive) and resources, NotAction, and
the conditions the template writes (StringEquals/StringLike/Null on keys the call carries). A Deny
wins, then an Allow, else the implicit deny that AWS answers with AccessDenied; with a permissions
boundary, the boundary must allow the call as well.

Out of scope, and why: the AWS managed policies SAM attaches (AWSLambdaBasicExecutionRole for the
logs Lambda writes, AWSXrayWriteOnlyAccess for the traces it sends, AWSLambdaVPCAccessExecutionRole
and AWSLambdaSQSQueueExecutionRole for the ENIs and SQS polling the Lambda service does with the
role): no function code makes those calls, so no test can show their use.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from localdev.template import ACCOUNT_ID, DEFAULT_REGION, describe_resources, load_template
from localdev.template.resources import Resolver

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ACCESS_KEY_PREFIX = "role-"  # localdev.template.function_access_key
ARN = f"arn:aws:%s:{DEFAULT_REGION}:{ACCOUNT_ID}:%s"


@dataclass(frozen=True)
class Call:
    """One AWS request a function made: its action (service:Operation), the resource it acts on, and
    the condition keys IAM would see for it."""

    function: str
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        extra = "".join(f" {key}={value}" for key, value in self.context)
        return f"{self.function}: {self.action} on {self.resource}{extra}"


@dataclass
class Statement:
    """One resolved statement of a role: where it came from (policy name, index) for the messages."""

    source: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_actions: tuple[str, ...] = ()
    conditions: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)

    def grants(self) -> list[tuple[str, str]]:
        """(action, resource) pairs this statement grants, as written (patterns)."""
        return [(action, resource) for action in self.actions for resource in self.resources]


# -- the roles ---------------------------------------------------------------------------------------


def expand_template(template_path: Path = TEMPLATE, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """template.yaml through the SAM translator (what `sam deploy` sends to CloudFormation). Code URIs
    are replaced by placeholder S3 URIs (the translator wants S3; sam build uploads there)."""

    template = yaml_parse(template_path.read_text())
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = f"s3://askproai-local/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = f"s3://askproai-local/{logical_id}.zip"

    class _NoManagedPolicies:  # the translator asks IAM for managed policy names only when a template uses them
        def load(self) -> dict[str, str]:
            return {}

    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = DEFAULT_REGION  # the translator's pseudo-parameter values
    try:
        expanded: dict[str, Any] = transform(template, dict(parameters or {}), _NoManagedPolicies())
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous
    return expanded


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return (str(value),)


def _statements(source: str, document: Mapping[str, Any]) -> list[Statement]:
    return [
        Statement(
            source=f"{source}[{index}]",
            effect=str(raw["Effect"]),
            actions=_strings(raw.get("Action")),
            not_actions=_strings(raw.get("NotAction")),
            resources=_strings(raw.get("Resource")),
            conditions={
                operator: {key: _strings(values) for key, values in block.items()}
                for operator, block in (raw.get("Condition") or {}).items()
            },
        )
        for index, raw in enumerate(_strings_or_dicts(document["Statement"]))
    ]


def _role_documents(
    template_path: Path, parameters: Mapping[str, str] | None
) -> tuple[dict[str, list[Statement]], dict[str, list[Statement] | None]]:
    expanded = expand_template(template_path, parameters)
    resolver = Resolver(expanded, describe_resources(load_template(template_path)), parameters=parameters)
    resources = expanded["Resources"]
    roles: dict[str, list[Statement]] = {}
    boundaries: dict[str, list[Statement] | None] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"]["Role"]
        role_id = role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) else str(role_ref)
        role = resources[role_id]["Properties"]
        statements: list[Statement] = []
        for policy in resolver.resolve(role.get("Policies") or []):
            statements += _statements(f"{role_id}.{policy['PolicyName']}", policy["PolicyDocument"])
        roles[logical_id] = statements
        # A boundary that is one of the template's managed policies (a Ref resolves to its logical id).
        boundary = resolver.resolve({"Boundary": role.get("PermissionsBoundary")}).get("Boundary")
        if boundary is None:
            boundaries[logical_id] = None
        else:
            policy = resources[str(boundary)]
            boundaries[logical_id] = _statements(
                str(boundary), resolver.resolve(policy["Properties"]["PolicyDocument"])
            )
    return roles, boundaries


def function_roles(
    template_path: Path = TEMPLATE, parameters: Mapping[str, str] | None = None
) -> dict[str, list[Statement]]:
    """Each function's logical id -> the inline statements of its role, intrinsics resolved as the local
    stack resolves them (`parameters` override the template's defaults, e.g. VpcSubnetIds)."""
    return _role_documents(template_path, parameters)[0]


def function_boundaries(
    template_path: Path = TEMPLATE, parameters: Mapping[str, str] | None = None
) -> dict[str, list[Statement] | None]:
    """Each function's logical id -> its role's permissions boundary (statements), None without one. A
    call must be allowed by the role and by the boundary."""
    return _role_documents(template_path, parameters)[1]


def _strings_or_dicts(value: Any) -> list[dict[str, Any]]:
    return list(value) if isinstance(value, list) else [value]


# -- the evaluator ---------------------------------------------------------------------------------


def _pattern(text: str, *, ignore_case: bool) -> re.Pattern[str]:
    expression = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text)
    return re.compile(f"^{expression}$", re.IGNORECASE if ignore_case else 0)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: `*` any run of characters (also across `/` and `:`), `?` one character."""
    return bool(_pattern(pattern, ignore_case=ignore_case).match(value))


def _condition_holds(conditions: Mapping[str, Mapping[str, Sequence[str]]], context: Mapping[str, str]) -> bool:
    for operator, block in conditions.items():
        for key, expected in block.items():
            actual = context.get(key)
            if operator == "Null":
                if (actual is None) != (str(expected[0]).lower() == "true"):
                    return False
            elif operator in ("StringEquals", "ArnEquals"):
                if actual is None or actual not in expected:
                    return False
            elif operator in ("StringLike", "ArnLike"):
                if actual is None or not any(matches(value, actual) for value in expected):
                    return False
            else:
                raise NotImplementedError(f"condition operator {operator} (tests/support/iam.py)")
    return True


def applies(statement: Statement, call: Call) -> bool:
    """Whether the statement speaks about this call (action, resource and conditions all match)."""
    if statement.not_actions:
        action_ok = not any(matches(a, call.action, ignore_case=True) for a in statement.not_actions)
    else:
        action_ok = any(matches(a, call.action, ignore_case=True) for a in statement.actions)
    return (
        action_ok
        and any(matches(resource, call.resource) for resource in statement.resources)
        and _condition_holds(statement.conditions, dict(call.context))
    )


def allowed(statements: Iterable[Statement], call: Call, boundary: Iterable[Statement] | None = None) -> bool:
    """The role allows the call (and so does its permissions boundary, when it has one)."""
    if boundary is not None and not allowed(boundary, call):
        return False
    relevant = [statement for statement in statements if applies(statement, call)]
    if any(statement.effect == "Deny" for statement in relevant):
        return False
    return any(statement.effect == "Allow" for statement in relevant)


def unused_grants(roles: Mapping[str, list[Statement]], calls: Iterable[Call]) -> list[str]:
    """Every (role statement, action pattern, resource pattern) of an Allow that no recorded call of
    its function used, as "Function: action on resource (source)"."""
    by_function: dict[str, list[Call]] = {}
    for call in calls:
        by_function.setdefault(call.function, []).append(call)
    unused: list[str] = []
    for function, statements in sorted(roles.items()):
        made = by_function.get(function, [])
        for statement in statements:
            if statement.effect != "Allow":
                continue
            for action, resource in statement.grants():
                single = Statement(statement.source, "Allow", (action,), (resource,), (), statement.conditions)
                if not any(applies(single, call) for call in made):
                    unused.append(f"{function}: {action} on {resource} ({statement.source})")
    return unused


# -- the recorded calls ------------------------------------------------------------------------------


def _json(body: str) -> dict[str, Any]:
    try:
        loaded = json.loads(body) if body else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _sqs_action(operation: str) -> str:
    # SQS authorises SendMessageBatch, DeleteMessageBatch and ChangeMessageVisibilityBatch with the
    # single-message action's permission.
    return operation.removesuffix("Batch")


def _queue_arn(url: str) -> str:
    return ARN % ("sqs", urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


def _email_address(source: str) -> str:
    match = re.search(r"<([^>]+)>", source)
    return (match.group(1) if match else source).strip()


Found = list[tuple[str, str, tuple[tuple[str, str], ...]]]  # (operation, resource, condition context)
# A transaction has no IAM action of its own: IAM checks each item's own action on its table.
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
_TRANSACT_GET = {"Get": "GetItem"}


def _table(name: Any) -> str:
    return ARN % ("dynamodb", f"table/{name}")


def _dynamodb(operation: str, body: dict[str, Any]) -> Found:
    if operation.startswith("Batch"):
        return [(operation, _table(name), ()) for name in body.get("RequestItems", {})]
    if operation.startswith("Transact"):
        actions = _TRANSACT_ACTIONS if operation == "TransactWriteItems" else _TRANSACT_GET
        found: Found = []
        for item in body.get("TransactItems", []):
            for kind, request in item.items():
                found.append((actions.get(kind, kind), _table(request.get("TableName", "*")), ()))
        return sorted(set(found))
    table = _table(body.get("TableName", "*"))
    index = body.get("IndexName")
    return [(operation, f"{table}/index/{index}" if index else table, ())]


def _json_protocol(service: str, operation: str, body: dict[str, Any]) -> Found:  # noqa: PLR0911 - one per service
    if service == "dynamodb":
        return _dynamodb(operation, body)
    if service == "sqs":
        return [(_sqs_action(operation), _queue_arn(str(body.get("QueueUrl", ""))), ())]
    if service == "ssm":
        names = body.get("Names") or [body.get("Name") or body.get("Path") or "*"]
        return [(operation, ARN % ("ssm", f"parameter/{str(name).lstrip('/')}"), ()) for name in names]
    if service == "secretsmanager":
        secret = str(body.get("SecretId", "*"))
        # A name's ARN ends in "-" and six random characters; IAM sees that full ARN.
        arn = secret if secret.startswith("arn:") else ARN % ("secretsmanager", f"secret:{secret}-Ab12Cd")
        return [(operation, arn, ())]
    if service == "wafv2":
        # Described (localdev describe_resources), a set's ARN has its name where AWS has its id.
        scope = "global" if body.get("Scope") == "CLOUDFRONT" else "regional"
        name = str(body.get("Name", "*"))
        return [(operation, ARN % ("wafv2", f"{scope}/ipset/{name}/{name}"), ())]
    if service == "events":
        buses = {str(entry.get("EventBusName") or "default") for entry in body.get("Entries", [])}
        return [
            (operation, bus if bus.startswith("arn:") else ARN % ("events", f"event-bus/{bus}"), ())
            for bus in sorted(buses)
        ]
    return [(operation, "*", ())]


def _query_protocol(service: str, operation: str, params: Mapping[str, str]) -> Found:
    if service == "sns":
        if params.get("PhoneNumber"):  # SMS to a number: no resource to name, IAM checks "*"
            return [(operation, "*", ())]
        return [(operation, params.get("TopicArn") or params.get("TargetArn") or "*", ())]
    if service == "ses":
        source = _email_address(params.get("Source", ""))
        if not source:  # SendRawEmail without Source: the From header of the raw message decides
            return [(operation, ARN % ("ses", "identity/*"), ())]
        return [(operation, ARN % ("ses", f"identity/{source}"), ())]
    if service == "sqs":
        return [(_sqs_action(operation), _queue_arn(params.get("QueueUrl", "")), ())]
    return [(operation, "*", ())]


_SERVICE_OF_TARGET = {
    "DynamoDB": "dynamodb",
    "AmazonSQS": "sqs",
    "AmazonSSM": "ssm",
    "secretsmanager": "secretsmanager",
    "AWSEvents": "events",
    "AWSWAF": "wafv2",  # AWSWAF_20190729.GetIPSet
}


def parse_entry(entry: Mapping[str, Any]) -> list[Call]:
    """moto's call-log entry (localdev/moto_server.py) as the calls IAM evaluates; [] for a request no
    function made (the tests' own clients, moto's /moto-api)."""
    key = str(entry.get("access_key", ""))
    if not key.startswith(ACCESS_KEY_PREFIX):
        return []
    function = key[len(ACCESS_KEY_PREFIX) :]
    target = str(entry.get("target", ""))
    body = str(entry.get("body", ""))
    if target:
        prefix, operation = target.split(".", 1)
        service = _SERVICE_OF_TARGET.get(prefix.split("_")[0], prefix.lower())
        found = _json_protocol(service, operation, _json(body))
    else:
        params = dict(urllib.parse.parse_qsl(body)) if body else {}
        params.update(urllib.parse.parse_qsl(str(entry.get("query", ""))))
        operation = params.get("Action", "")
        if not operation:
            return []
        service = str(entry.get("service") or "")
        found = _query_protocol(service, operation, params)
    return [Call(function, f"{service}:{action}", resource, context) for action, resource, context in found]


def read_call_log(path: Path) -> list[Call]:
    calls: list[Call] = []
    if not path.exists():
        return calls
    for line in path.read_text().splitlines():
        if line.strip():
            calls.extend(parse_entry(json.loads(line)))
    return calls


def summary(calls: Iterable[Call]) -> dict[str, dict[str, int]]:
    """function -> "action on resource" -> count, for the session's JSON report."""
    report: dict[str, dict[str, int]] = {}
    for call in calls:
        row = report.setdefault(call.function, {})
        row[call.describe().split(": ", 1)[1]] = row.get(call.describe().split(": ", 1)[1], 0) + 1
    return {function: dict(sorted(rows.items())) for function, rows in sorted(report.items())}
