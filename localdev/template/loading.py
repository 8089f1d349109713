"""Loading template.yaml: the template's vocabulary (resource types, the local account and region,
Lambda's defaults), CloudFormation's short tags, and finding resources by type."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

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
IP_SET_TYPE = "AWS::WAFv2::IPSet"


class TemplateError(ValueError):
    """The template uses something the local stack cannot resolve."""


class _NoValue:
    """AWS::NoValue: the key or list item that holds it disappears."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


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
