"""The template's functions and their events: Globals merged under each function, its API, SQS,
schedule and SNS events parsed into the dataclasses the local stack runs them from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from localdev.template.loading import (
    DEFAULT_MEMORY,
    DEFAULT_TIMEOUT,
    FUNCTION_TYPE,
    Template,
    TemplateError,
    resources_of_type,
)


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


def _with_parameter_defaults(template: Template, event: dict[str, Any]) -> dict[str, Any]:
    """A schedule given as `!Ref SomeParameter` runs locally at that parameter's default."""
    props = event.get("Properties") or {}
    schedule = props.get("Schedule")
    if not (isinstance(schedule, dict) and "Ref" in schedule):
        return event
    parameter = (template.get("Parameters") or {}).get(str(schedule["Ref"])) or {}
    if "Default" not in parameter:
        raise TemplateError(f"schedule {schedule!r} names no parameter with a default")
    return {**event, "Properties": {**props, "Schedule": str(parameter["Default"])}}


def functions(template: Template) -> list[FunctionSpec]:
    """Every AWS::Serverless::Function with Globals merged and its events parsed, in template order."""
    specs = []
    for logical_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        props = _merged_properties(template, resource)
        events = []
        for name, event in (props.get("Events") or {}).items():
            parsed = _parse_event(name, _with_parameter_defaults(template, event))
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
