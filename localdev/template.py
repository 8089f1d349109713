"""template.yaml as the single source of truth for the local stack.

Reads the SAM template (CloudFormation short tags included), lists its functions and their event
sources, creates its queues, tables and topics in a moto server, and resolves the intrinsics a
function's environment uses. Importing this module has no side effects.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

# PyYAML ships no type stubs (types-PyYAML is not a dependency); use it untyped.
yaml: Any = importlib.import_module("yaml")

Template = dict[str, Any]

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
PARTITION = "aws"
# Lambda's own limit; a function without Timeout gets this.
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128

FUNCTION_TYPE = "AWS::Serverless::Function"
QUEUE_TYPE = "AWS::SQS::Queue"
TABLE_TYPE = "AWS::DynamoDB::Table"
SIMPLE_TABLE_TYPE = "AWS::Serverless::SimpleTable"
TOPIC_TYPE = "AWS::SNS::Topic"
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
API_TYPE = "AWS::Serverless::Api"
EVENT_BUS_TYPE = "AWS::Events::EventBus"
EVENT_RULE_TYPE = "AWS::Events::Rule"


class TemplateError(ValueError):
    """The template uses something the local stack cannot resolve."""


class _NoValue:
    """AWS::NoValue: the key or list item that holds it disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _construct_tag(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported node for !{suffix}")
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        # The short form "Res.Attr" is the long form ["Res", "Attr"].
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{suffix}": value}


# SafeLoader plus CloudFormation's short-form intrinsics (!Ref, !GetAtt, !Sub, ...).
_CfnLoader: Any = type("_CfnLoader", (yaml.SafeLoader,), {})
_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | os.PathLike[str] = "template.yaml") -> Template:
    """Parse a SAM/CloudFormation template into plain dicts (short tags become long-form intrinsics)."""
    with Path(path).open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)  # a SafeLoader subclass: no arbitrary objects
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return data


def resources_of_type(template: Template, *types: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource for every resource of the given types, in template order."""
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if isinstance(resource, dict) and resource.get("Type") in types
    }


# ---------------------------------------------------------------------------
# Functions and their events
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiEvent:
    name: str
    path: str
    method: str  # lower case, or "any"
    api: str | None = None  # logical id of the RestApiId, if any
    authorizer: str | None = None  # Auth.Authorizer of the event: a name, "NONE", or None (the API's default)


@dataclass(frozen=True)
class SqsEvent:
    name: str
    queue: str  # logical id of the queue
    batch_size: int = 10
    report_batch_item_failures: bool = False
    batching_window_seconds: int = 0
    enabled: bool = True


@dataclass(frozen=True)
class ScheduleEvent:
    name: str
    expression: str
    interval_seconds: float | None  # None: a cron() expression, which the local stack does not run
    input: str | None = None
    enabled: bool = True
    kind: str = "Schedule"


@dataclass(frozen=True)
class SnsEvent:
    name: str
    topic: str  # logical id of the topic
    filter_policy: dict[str, Any] | None = None


Event = ApiEvent | SqsEvent | ScheduleEvent | SnsEvent


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    memory_size: int
    runtime: str
    layers: tuple[str, ...]  # logical ids of the template's layers
    events: tuple[Event, ...] = field(default_factory=tuple)
    properties: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def api_events(self) -> list[ApiEvent]:
        return [e for e in self.events if isinstance(e, ApiEvent)]

    @property
    def sqs_events(self) -> list[SqsEvent]:
        return [e for e in self.events if isinstance(e, SqsEvent)]

    @property
    def schedule_events(self) -> list[ScheduleEvent]:
        return [e for e in self.events if isinstance(e, ScheduleEvent)]

    @property
    def sns_events(self) -> list[SnsEvent]:
        return [e for e in self.events if isinstance(e, SnsEvent)]

    @property
    def async_attempts(self) -> int:
        """How often Lambda tries an asynchronous invocation: once plus MaximumRetryAttempts (default 2)."""
        retries = (self.properties.get("EventInvokeConfig") or {}).get("MaximumRetryAttempts", 2)
        return 1 + int(retries)

    @property
    def dead_letter_queue(self) -> str | None:
        """The logical id of the SQS queue in the function's DeadLetterQueue, if any."""
        target = self.properties.get("DeadLetterQueue") or {}
        if target.get("Type") != "SQS":
            return None
        return _referenced_id(target.get("TargetArn"))


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.IGNORECASE)
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """Seconds between runs of rate(N unit); None for cron() (not run locally)."""
    match = _RATE.match(expression.strip())
    if not match:
        if expression.strip().startswith("cron("):
            return None
        raise TemplateError(f"unsupported schedule expression {expression!r}")
    unit = match.group(2).lower().rstrip("s")
    return int(match.group(1)) * _RATE_UNITS[unit]


def _referenced_id(value: Any) -> str | None:
    """The logical id behind !Ref X / !GetAtt X.Arn, or the name at the end of a literal ARN."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    if isinstance(value, str) and value:
        return value.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return None


def _parse_event(name: str, event: dict[str, Any]) -> Event | None:
    kind = event.get("Type")
    props: dict[str, Any] = event.get("Properties") or {}
    if kind in ("Api", "HttpApi"):
        return ApiEvent(
            name=name,
            path=str(props.get("Path", "/")),
            method=str(props.get("Method", "any")).lower(),
            api=_referenced_id(props.get("RestApiId") or props.get("ApiId")),
            authorizer=(props.get("Auth") or {}).get("Authorizer"),
        )
    if kind == "SQS":
        queue = _referenced_id(props.get("Queue"))
        if queue is None:
            raise TemplateError(f"SQS event {name}: no Queue")
        return SqsEvent(
            name=name,
            queue=queue,
            batch_size=int(props.get("BatchSize", 10)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or ()),
            batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
            enabled=props.get("Enabled", True) is not False,
        )
    if kind in ("Schedule", "ScheduleV2"):
        expression = str(props.get("Schedule") or props.get("ScheduleExpression") or "")
        state = str(props.get("State", "ENABLED")).upper()
        return ScheduleEvent(
            name=name,
            expression=expression,
            interval_seconds=rate_seconds(expression),
            input=props.get("Input"),
            enabled=props.get("Enabled", True) is not False and state == "ENABLED",
            kind=str(kind),
        )
    if kind == "SNS":
        topic = _referenced_id(props.get("Topic"))
        if topic is None:
            raise TemplateError(f"SNS event {name}: no Topic")
        return SnsEvent(name=name, topic=topic, filter_policy=props.get("FilterPolicy"))
    return None  # other event types are not emulated locally


def _merged_properties(template: Template, resource: dict[str, Any]) -> dict[str, Any]:
    """Globals.Function merged under the function's own properties (maps merge, scalars and lists replace)."""
    merged: dict[str, Any] = dict(template.get("Globals", {}).get("Function", {}) or {})
    for key, value in (resource.get("Properties") or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def functions(template: Template) -> list[FunctionSpec]:
    """Every AWS::Serverless::Function with Globals merged and its events parsed, in template order."""
    specs = []
    for logical_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        props = _merged_properties(template, resource)
        events = []
        for name, event in (props.get("Events") or {}).items():
            parsed = _parse_event(name, event)
            if parsed is not None:
                events.append(parsed)
        layers = tuple(
            layer_id
            for layer in props.get("Layers") or []
            if (layer_id := _referenced_id(layer)) is not None and layer_id in template["Resources"]
        )
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_uri=str(props.get("CodeUri", ".")),
                handler=str(props.get("Handler", "app.lambda_handler")),
                timeout=int(props.get("Timeout", DEFAULT_TIMEOUT)),
                memory_size=int(props.get("MemorySize", DEFAULT_MEMORY)),
                runtime=str(props.get("Runtime", "python3.11")),
                layers=layers,
                events=tuple(events),
                properties=props,
            )
        )
    return specs


def function(template: Template, logical_id: str) -> FunctionSpec:
    for spec in functions(template):
        if spec.logical_id == logical_id:
            return spec
    names = ", ".join(spec.logical_id for spec in functions(template))
    raise TemplateError(f"no function {logical_id!r} in the template (functions: {names})")


def layer_content_uri(template: Template, logical_id: str) -> str:
    resource = template["Resources"][logical_id]
    return str((resource.get("Properties") or {}).get("ContentUri", "."))


# ---------------------------------------------------------------------------
# Local resources and intrinsic resolution
# ---------------------------------------------------------------------------


class LocalResources(dict[str, dict[str, str]]):
    """Logical id -> {"Ref": ..., "Arn": ..., ...} for the resources created locally."""

    def __init__(
        self,
        data: Mapping[str, dict[str, str]] | None = None,
        *,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        super().__init__(data or {})
        self.endpoint_url = endpoint_url
        self.region = region
        self.account_id = account_id

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "account_id": self.account_id,
            "resources": dict(self),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LocalResources:
        return cls(
            data["resources"],
            endpoint_url=data.get("endpoint_url"),
            region=data.get("region", DEFAULT_REGION),
            account_id=data.get("account_id", ACCOUNT_ID),
        )


def _queue_name(logical_id: str, props: Mapping[str, Any]) -> str:
    # SQS insists FIFO queue names end in .fifo; CloudFormation's generated names do too.
    return f"{logical_id}.fifo" if _truthy(props.get("FifoQueue")) else logical_id


def _topic_name(logical_id: str, props: Mapping[str, Any]) -> str:
    return f"{logical_id}.fifo" if _truthy(props.get("FifoTopic")) else logical_id


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _queue_url(endpoint_url: str | None, region: str, account_id: str, name: str) -> str:
    base = (endpoint_url or f"https://sqs.{region}.amazonaws.com").rstrip("/")
    return f"{base}/{account_id}/{name}"


def describe_resources(
    template: Template,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    account_id: str = ACCOUNT_ID,
) -> LocalResources:
    """What create_resources() would return, computed without talking to AWS (names are deterministic)."""
    found = LocalResources(endpoint_url=endpoint_url, region=region, account_id=account_id)
    arn = f"arn:{PARTITION}:%s:{region}:{account_id}:%s"
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        if kind == QUEUE_TYPE:
            name = _queue_name(logical_id, props)
            url = _queue_url(endpoint_url, region, account_id, name)
            found[logical_id] = {
                "Ref": url,
                "QueueUrl": url,
                "QueueName": name,
                "Arn": arn % ("sqs", name),
            }
        elif kind in (TABLE_TYPE, SIMPLE_TABLE_TYPE):
            table_arn = arn % ("dynamodb", f"table/{logical_id}")
            found[logical_id] = {"Ref": logical_id, "TableName": logical_id, "Arn": table_arn}
        elif kind == TOPIC_TYPE:
            name = _topic_name(logical_id, props)
            topic_arn = arn % ("sns", name)
            found[logical_id] = {"Ref": topic_arn, "TopicArn": topic_arn, "TopicName": name, "Arn": topic_arn}
        elif kind == FUNCTION_TYPE:
            found[logical_id] = {"Ref": logical_id, "Arn": arn % ("lambda", f"function:{logical_id}")}
        elif kind in LAYER_TYPES:
            layer_arn = arn % ("lambda", f"layer:{logical_id}:1")
            found[logical_id] = {"Ref": layer_arn, "Arn": layer_arn}
        elif kind == EVENT_BUS_TYPE:
            bus = str(props["Name"]) if isinstance(props.get("Name"), str) else logical_id
            found[logical_id] = {"Ref": bus, "Name": bus, "Arn": arn % ("events", f"event-bus/{bus}")}
        elif kind == EVENT_RULE_TYPE:
            found[logical_id] = {"Ref": logical_id, "Arn": arn % ("events", f"rule/{logical_id}")}
        elif kind in (API_TYPE, "AWS::ApiGateway::RestApi"):
            found[logical_id] = {"Ref": "local", "RootResourceId": "root"}
    return found


def aws_client(service: str, endpoint_url: str | None, region: str) -> Any:
    # Dummy credentials: the local stack must never reach a real AWS account.
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's dummy key
    )


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)


def _create_queues(template: Template, resources: LocalResources, resolver: Resolver) -> None:
    sqs = aws_client("sqs", resources.endpoint_url, resources.region)
    queues = resources_of_type(template, QUEUE_TYPE)
    for logical_id, resource in queues.items():
        props = resolver.resolve(resource.get("Properties") or {})
        name = _queue_name(logical_id, props)
        attributes = {key: _attr_str(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            if attributes:
                attributes.pop("FifoQueue", None)  # immutable once created
                sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        except ClientError as error:
            if "NonExistentQueue" not in str(error.response.get("Error", {}).get("Code", "")):
                raise
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        resources[logical_id] = {"Ref": url, "QueueUrl": url, "QueueName": name, "Arn": arn}
    # Redrive policies last: every dead-letter queue now exists and its ARN resolves.
    for logical_id, resource in queues.items():
        props = resolver.resolve(resource.get("Properties") or {})
        redrive = props.get("RedrivePolicy")
        if redrive:
            sqs.set_queue_attributes(
                QueueUrl=resources[logical_id]["QueueUrl"],
                Attributes={"RedrivePolicy": json.dumps(redrive)},
            )


def _attr_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _table_definition(logical_id: str, resource: dict[str, Any], resolver: Resolver) -> dict[str, Any]:
    props = resolver.resolve(resource.get("Properties") or {})
    if resource.get("Type") == SIMPLE_TABLE_TYPE:
        key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        key_type = {"String": "S", "Number": "N", "Binary": "B"}[key.get("Type", "String")]
        return {
            "TableName": logical_id,
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": key_type}],
            "BillingMode": "PAY_PER_REQUEST",
        }
    definition: dict[str, Any] = {
        "TableName": logical_id,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    provisioned = props.get("ProvisionedThroughput") or {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if definition["BillingMode"] == "PROVISIONED":
        definition["ProvisionedThroughput"] = _int_values(provisioned)
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            indexes = []
            for source in props[key]:
                index = dict(source)
                throughput = index.pop("ProvisionedThroughput", None) or provisioned
                if definition["BillingMode"] == "PROVISIONED":
                    index["ProvisionedThroughput"] = _int_values(throughput)
                indexes.append(index)
            definition[key] = indexes
    if props.get("StreamSpecification"):
        definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return definition


def _int_values(throughput: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(value) for key, value in throughput.items()}


def _create_tables(template: Template, resources: LocalResources, resolver: Resolver) -> None:
    dynamodb = aws_client("dynamodb", resources.endpoint_url, resources.region)
    for logical_id, resource in resources_of_type(template, TABLE_TYPE, SIMPLE_TABLE_TYPE).items():
        definition = _table_definition(logical_id, resource, resolver)
        try:
            arn = dynamodb.describe_table(TableName=logical_id)["Table"]["TableArn"]
        except dynamodb.exceptions.ResourceNotFoundException:
            arn = dynamodb.create_table(**definition)["TableDescription"]["TableArn"]
        resources[logical_id] = {"Ref": logical_id, "TableName": logical_id, "Arn": arn}
        ttl = resolver.resolve((resource.get("Properties") or {}).get("TimeToLiveSpecification"))
        if ttl and _truthy(ttl.get("Enabled")):
            current = dynamodb.describe_time_to_live(TableName=logical_id)["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                dynamodb.update_time_to_live(
                    TableName=logical_id,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )


def _create_topics(template: Template, resources: LocalResources, resolver: Resolver) -> None:
    sns = aws_client("sns", resources.endpoint_url, resources.region)
    for logical_id, resource in resources_of_type(template, TOPIC_TYPE).items():
        props = resolver.resolve(resource.get("Properties") or {})
        name = _topic_name(logical_id, props)
        attributes = {}
        if _truthy(props.get("FifoTopic")):
            attributes["FifoTopic"] = "true"
        if props.get("DisplayName"):
            attributes["DisplayName"] = str(props["DisplayName"])
        arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]  # idempotent by name
        resources[logical_id] = {"Ref": arn, "TopicArn": arn, "TopicName": name, "Arn": arn}


def _create_event_rules(template: Template, resources: LocalResources, resolver: Resolver) -> None:
    """Custom event buses, then the rules on them with their targets (queues, topics: what moto delivers)."""
    events = aws_client("events", resources.endpoint_url, resources.region)
    for logical_id, resource in resources_of_type(template, EVENT_BUS_TYPE).items():
        name = str(resolver.resolve((resource.get("Properties") or {}).get("Name") or logical_id))
        try:
            arn = events.create_event_bus(Name=name)["EventBusArn"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
            arn = events.describe_event_bus(Name=name)["Arn"]
        resources[logical_id] = {"Ref": name, "Name": name, "Arn": arn}
    for logical_id, resource in resources_of_type(template, EVENT_RULE_TYPE).items():
        props = resolver.resolve(resource.get("Properties") or {})
        bus = str(props.get("EventBusName") or "default")
        rule: dict[str, Any] = {"Name": logical_id, "EventBusName": bus, "State": props.get("State", "ENABLED")}
        if props.get("EventPattern"):
            rule["EventPattern"] = json.dumps(props["EventPattern"])
        if props.get("ScheduleExpression"):
            continue  # schedules are the ScheduleRunner's
        arn = events.put_rule(**rule)["RuleArn"]
        targets = [{"Id": str(t["Id"]), "Arn": str(t["Arn"])} for t in props.get("Targets") or []]
        if targets:
            events.put_targets(Rule=logical_id, EventBusName=bus, Targets=targets)
        resources[logical_id] = {"Ref": logical_id, "Arn": arn}


def create_resources(
    endpoint_url: str | None,
    region: str = DEFAULT_REGION,
    template: Template | None = None,
    *,
    template_path: str | os.PathLike[str] = "template.yaml",
    parameters: Mapping[str, str] | None = None,
) -> LocalResources:
    """Create the template's queues, tables, topics, event buses and rules (idempotent); return how they resolve.

    endpoint_url is the moto server; None uses boto3's default endpoint, which is what moto's
    in-process mock_aws() intercepts.
    """
    template = template if template is not None else load_template(template_path)
    resources = describe_resources(template, endpoint_url, region)
    resolver = Resolver(template, resources, parameters=parameters)
    _create_queues(template, resources, resolver)
    _create_tables(template, resources, resolver)
    _create_topics(template, resources, resolver)
    _create_event_rules(template, resources, resolver)
    return resources


def verify_ses_identities(endpoint_url: str | None, region: str, identities: Iterable[str]) -> None:
    """SES (and moto) refuse to send from an unverified address; verify the local sender and its domain."""
    ses = aws_client("ses", endpoint_url, region)
    for raw in identities:
        identity = raw.strip()
        if not identity:
            continue
        if "@" in identity:
            ses.verify_email_identity(EmailAddress=identity)
        ses.verify_domain_identity(Domain=identity.rsplit("@", 1)[-1])


class Resolver:
    """Evaluates the intrinsic functions the local stack needs against LocalResources."""

    def __init__(
        self,
        template: Template,
        resources: LocalResources,
        *,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.resources = resources
        self.parameters = dict(parameters or {})
        self._conditions: dict[str, bool] = {}

    # -- public --------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key == "Ref":
                    return self.ref(str(argument))
                if key == "Condition" and isinstance(argument, str):
                    return self.condition(argument)
                if key.startswith("Fn::"):
                    return self._function(key[4:], argument)
            out = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in out.items() if item is not NO_VALUE}
        return value

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.resources.region,
            "AWS::AccountId": self.resources.account_id,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "local",
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{self.resources.region}:"
            f"{self.resources.account_id}:stack/local/00000000-0000-0000-0000-000000000000",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        parameters = self.template.get("Parameters") or {}
        if name in parameters:
            return self._parameter(name, parameters[name])
        if name in self.resources:
            return self.resources[name]["Ref"]
        if name in self.template.get("Resources", {}):
            return name  # a resource the local stack does not emulate: its logical id stands in
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, name: str, attribute: str) -> str:
        attributes = self.resources.get(name)
        if attributes is None or attribute not in attributes:
            raise TemplateError(f"!GetAtt {name}.{attribute}: not available locally")
        return attributes[attribute]

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definition = (self.template.get("Conditions") or {}).get(name)
            if definition is None:
                raise TemplateError(f"no condition {name!r}")
            self._conditions[name] = bool(self.resolve(definition))
        return self._conditions[name]

    # -- helpers -------------------------------------------------------------

    def _parameter(self, name: str, spec: Mapping[str, Any]) -> Any:
        value = self.parameters.get(name, spec.get("Default"))
        if value is None:
            raise TemplateError(f"parameter {name} has no Default and no local value")
        if str(spec.get("Type", "String")).startswith(("CommaDelimitedList", "List<")):
            return [item.strip() for item in str(value).split(",")]
        return str(value)

    def _function(self, name: str, argument: Any) -> Any:  # noqa: C901, PLR0911, PLR0912 - one branch per intrinsic
        if name == "GetAtt":
            target, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self.get_att(str(target), str(self.resolve(attribute)))
        if name == "Sub":
            return self._sub(argument)
        if name == "If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(str(condition)) else when_false)
        if name == "Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right) if not isinstance(left, list) else left == right
        if name == "Not":
            return not self._bool(argument[0])
        if name == "And":
            return all(self._bool(item) for item in argument)
        if name == "Or":
            return any(self._bool(item) for item in argument)
        if name == "Join":
            separator, items = argument
            resolved = self.resolve(items)
            return str(separator).join(str(item) for item in resolved)
        if name == "Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Split":
            separator, text = argument
            return str(self.resolve(text)).split(str(separator))
        if name == "FindInMap":
            mapping, first, second = (self.resolve(item) for item in argument)
            return self.template["Mappings"][mapping][first][second]
        if name == "Base64":
            import base64  # noqa: PLC0415 - rarely used

            return base64.b64encode(str(self.resolve(argument)).encode()).decode()
        if name == "GetAZs":
            return [f"{self.resources.region}{zone}" for zone in "abc"]
        if name == "ImportValue":
            raise TemplateError("Fn::ImportValue needs another stack; not available locally")
        raise TemplateError(f"Fn::{name} is not supported locally")

    def _bool(self, value: Any) -> bool:
        if isinstance(value, dict) and set(value) == {"Condition"}:
            return self.condition(str(value["Condition"]))
        resolved = self.resolve(value)
        return resolved if isinstance(resolved, bool) else _truthy(resolved)

    _SUB = re.compile(r"\$\{([^}!]*)\}")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.resolve(v) for k, v in (argument[1] or {}).items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        # "${!Literal}" is CloudFormation's escape for a literal "${Literal}".
        return self._SUB.sub(replace, str(text)).replace("${!", "${")


# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------


def load_dotenv(path: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """KEY=VALUE lines; '#' comments; optional 'export '; quotes stripped. Falls back to .env.example."""
    file = Path(path)
    if not file.exists():
        example = file.with_name(file.name + ".example")
        if not example.exists():
            return {}
        file = example
    values: dict[str, str] = {}
    for raw in file.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            # An unquoted value ends at " #" (an inline comment).
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        values[key] = value
    return values


def declared_variables(template: Template) -> set[str]:
    """Every environment variable name the template declares (Globals or any function)."""
    globals_ = template.get("Globals", {}).get("Function", {})
    names = set((globals_.get("Environment") or {}).get("Variables") or {})
    for resource in resources_of_type(template, FUNCTION_TYPE).values():
        names |= set(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {})
    return names


def local_overrides(
    template: Template,
    dotenv: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """.env values, each replaced by the shell's value when the shell sets it.

    The shell can also override any variable the template declares. Other shell variables (PATH,
    HOME, real AWS credentials...) do not leak into functions, as in Lambda.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(dotenv)
    for name in set(dotenv) | declared_variables(template):
        if name in environ:
            overrides[name] = environ[name]
    return overrides


# Values the local stack owns: an .env line or a shell variable must not point functions elsewhere.
_LOCAL_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    # Keep a developer's ~/.aws profiles out of the picture.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def function_environment(
    template: Template,
    logical_id: str,
    resources: LocalResources,
    overrides: Mapping[str, str] | None = None,
    *,
    stack_values: Mapping[str, str] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment the function gets locally.

    Order (later wins): Globals.Function variables, the function's variables (all intrinsics
    resolved), `overrides` (the .env file merged with the shell), `stack_values` (what the running
    local stack owns, e.g. STRIPE_API_BASE of its localstripe), then the AWS/Lambda variables
    (endpoint, region, dummy keys, function name, memory, timeout).
    """
    spec = function(template, logical_id)
    resolver = Resolver(template, resources, parameters=parameters)
    variables = resolver.resolve((spec.properties.get("Environment") or {}).get("Variables") or {})
    env = {key: _env_str(value) for key, value in variables.items()}
    env.update(overrides or {})
    env.update(stack_values or {})
    env.update(_LOCAL_AWS)
    if resources.endpoint_url:
        env["AWS_ENDPOINT_URL"] = resources.endpoint_url
    else:
        env.pop("AWS_ENDPOINT_URL", None)
    env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = resources.region
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{logical_id}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        }
    )
    return env


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)
