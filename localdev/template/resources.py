"""Local resources and intrinsic resolution: the template's queues, tables, topics, event buses and
rules created in a moto server (or described without it), and the Resolver that evaluates !Ref,
!GetAtt, !Sub and the other intrinsics against them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from localdev.template.loading import (
    ACCOUNT_ID,
    API_TYPE,
    DEFAULT_REGION,
    EVENT_BUS_TYPE,
    EVENT_RULE_TYPE,
    FUNCTION_TYPE,
    IP_SET_TYPE,
    LAYER_TYPES,
    NO_VALUE,
    PARTITION,
    QUEUE_TYPE,
    SIMPLE_TABLE_TYPE,
    TABLE_TYPE,
    TOPIC_TYPE,
    Template,
    TemplateError,
    load_template,
    resources_of_type,
)


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


def describe_resources(  # noqa: C901 - one branch per resource type
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
            if props.get("StreamSpecification"):
                found[logical_id]["StreamArn"] = f"{table_arn}/stream/local"
        elif kind == IP_SET_TYPE:
            # The real id is moto's (create_resources); described, the set's name stands in for it
            # (tests/support/iam.py names a call's set the same way), and a !Sub name gets the
            # parameters' defaults, as create_resources resolves it without overrides.
            name = _described_name(template, logical_id, props)
            scope = str(props.get("Scope") or "REGIONAL")
            set_arn = arn % ("wafv2", f"{scope.lower()}/ipset/{name}/{name}")
            found[logical_id] = {"Ref": f"{name}|{name}|{scope}", "Arn": set_arn, "Id": name, "Name": name}
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


def _described_name(template: Template, logical_id: str, props: Mapping[str, Any]) -> str:
    name = props.get("Name")
    if isinstance(name, dict) and isinstance(name.get("Fn::Sub"), str):
        defaults = {key: str(p.get("Default", "")) for key, p in (template.get("Parameters") or {}).items()}
        text = re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: defaults.get(m.group(1), m.group(0)), name["Fn::Sub"])
        return text if "${" not in text else logical_id
    return _ip_set_name(logical_id, props)


def _ip_set_name(logical_id: str, props: Mapping[str, Any]) -> str:
    # The template's names are !Sub expressions; locally the logical id is as unique and readable.
    return props["Name"] if isinstance(props.get("Name"), str) else logical_id


def _create_ip_sets(template: Template, resources: LocalResources, resolver: Resolver) -> None:
    """The template's WAF IP sets (moto's WAFv2), empty or with their Addresses; those whose
    Condition is false are left out, as CloudFormation would."""
    found = resources_of_type(template, IP_SET_TYPE)
    if not found:
        return
    waf = aws_client("wafv2", resources.endpoint_url, resources.region)
    for logical_id, resource in found.items():
        condition = resource.get("Condition")
        if condition and not resolver.condition(str(condition)):
            resources.pop(logical_id, None)
            continue
        props = resolver.resolve(resource.get("Properties") or {})
        name = _ip_set_name(logical_id, props)
        scope = str(props.get("Scope") or "REGIONAL")
        existing = [s for s in waf.list_ip_sets(Scope=scope).get("IPSets", []) if s["Name"] == name]
        summary = (
            existing[0]
            if existing
            else waf.create_ip_set(
                Name=name,
                Scope=scope,
                IPAddressVersion=str(props.get("IPAddressVersion") or "IPV4"),
                Addresses=[str(address) for address in props.get("Addresses") or []],
                Description=str(props.get("Description") or name)[:256],
            )["Summary"]
        )
        resources[logical_id] = {
            "Ref": f"{summary['Name']}|{summary['Id']}|{scope}",
            "Arn": summary["ARN"],
            "Id": summary["Id"],
            "Name": summary["Name"],
        }


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
        if definition.get("StreamSpecification"):
            stream_arn = dynamodb.describe_table(TableName=logical_id)["Table"].get("LatestStreamArn")
            if stream_arn:
                resources[logical_id]["StreamArn"] = stream_arn
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
    """Create the template's queues, tables, topics, event buses, rules and WAF IP sets (idempotent);
    return how they resolve.

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
    _create_ip_sets(template, resources, resolver)
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
