"""Operations in template.yaml: what fails reaches on-call, and every runbook an alert links exists.

Every list is derived from the template itself (its functions, dead-letter queues, routes), so a
function, a dead-letter queue or a route added without its alarms, log group or throttling fails here.
The last tests prove that on a copy of the template with such an addition.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from platform_monitoring.alerting.rules import RuleSet

from localdev.template import (
    API_TYPE,
    FUNCTION_TYPE,
    QUEUE_TYPE,
    Template,
    functions,
    load_template,
    resources_of_type,
)
from tests.support.functions import ROOT

ALARM_TYPE = "AWS::CloudWatch::Alarm"
LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
OPERATIONS_TOPIC = {"Ref": "OperationsAlarmTopic"}
RUNBOOKS = ROOT / "docs" / "runbooks"
TEMPLATE = load_template(ROOT / "template.yaml")


# ---------------------------------------------------------------------------
# What the template holds
# ---------------------------------------------------------------------------


def referenced_id(value: Any) -> str | None:
    """The logical id behind !Ref X or !GetAtt X.Attr; None for anything else."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def properties(resource: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = resource.get("Properties") or {}
    return props


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {alarm_id: properties(alarm) for alarm_id, alarm in resources_of_type(template, ALARM_TYPE).items()}


def dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions") or []}


def function_ids(template: Template) -> list[str]:
    return list(resources_of_type(template, FUNCTION_TYPE))


def dead_letter_queues(template: Template) -> set[str]:
    """Every queue something dead-letters into: a redrive target, a function's DLQ or on-failure destination."""
    queues = resources_of_type(template, QUEUE_TYPE)
    targets = {
        referenced_id((properties(queue).get("RedrivePolicy") or {}).get("deadLetterTargetArn"))
        for queue in queues.values()
    }
    for spec in functions(template):
        props = spec.properties
        targets.add(referenced_id((props.get("DeadLetterQueue") or {}).get("TargetArn")))
        on_failure = ((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure") or {}
        targets.add(referenced_id(on_failure.get("Destination")))
        for event in (props.get("Events") or {}).values():
            destination = ((event.get("Properties") or {}).get("DestinationConfig") or {}).get("OnFailure") or {}
            targets.add(referenced_id(destination.get("Destination")))
    return {target for target in targets if target in queues}


def encoded_path(path: str) -> str:
    """A route as MethodSettings' ResourcePath spells it: "/api/events" is "/~1api~1events"."""
    return "/" + path.replace("/", "~1")


def routes(template: Template) -> list[tuple[str, str, str]]:
    """(API logical id, path, method) of every API event."""
    return [(event.api or "", event.path, event.method) for spec in functions(template) for event in spec.api_events]


# ---------------------------------------------------------------------------
# The checks, each answering what is missing (so a test can show they see an omission)
# ---------------------------------------------------------------------------


def lambda_alarm_problems(template: Template, metric_name: str) -> list[str]:
    problems = []
    for function_id in function_ids(template):
        matching = [
            props
            for props in alarms(template).values()
            if props.get("Namespace") == "AWS/Lambda"
            and props.get("MetricName") == metric_name
            and dimensions(props).get("FunctionName") == {"Ref": function_id}
        ]
        if not matching:
            problems.append(f"{function_id}: no {metric_name} alarm")
        for props in matching:
            # Any failure counts; an idle function (no data) is fine.
            if (props.get("Statistic"), props.get("ComparisonOperator"), props.get("Threshold")) != (
                "Sum",
                "GreaterThanOrEqualToThreshold",
                1,
            ) or props.get("TreatMissingData") != "notBreaching":
                problems.append(f"{function_id}: its {metric_name} alarm does not fire on the first failures")
            if OPERATIONS_TOPIC not in props.get("AlarmActions", []):
                problems.append(f"{function_id}: its {metric_name} alarm does not notify OperationsAlarmTopic")
    return problems


def dead_letter_queue_problems(template: Template) -> list[str]:
    problems = []
    for queue_id in sorted(dead_letter_queues(template)):
        matching = [
            props
            for props in alarms(template).values()
            if props.get("Namespace") == "AWS/SQS"
            and props.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and dimensions(props).get("QueueName") == {"Fn::GetAtt": [queue_id, "QueueName"]}
        ]
        if not matching:
            problems.append(f"{queue_id}: no depth alarm")
        for props in matching:
            if (props.get("ComparisonOperator"), props.get("Threshold")) != ("GreaterThanOrEqualToThreshold", 1):
                problems.append(f"{queue_id}: its alarm does not fire on the first message")
            if OPERATIONS_TOPIC not in props.get("AlarmActions", []):
                problems.append(f"{queue_id}: its alarm does not notify OperationsAlarmTopic")
    return problems


def log_group_problems(template: Template) -> list[str]:
    groups = [properties(group) for group in resources_of_type(template, LOG_GROUP_TYPE).values()]
    problems = []
    for function_id in function_ids(template):
        mine = [
            group for group in groups if group.get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{function_id}}}"}
        ]
        if len(mine) != 1:
            problems.append(f"{function_id}: {len(mine)} log groups, expected one")
        elif mine[0].get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
            problems.append(f"{function_id}: its log group does not keep logs for LogRetentionDays")
    return problems


def method_setting(api: dict[str, Any], path: str, method: str) -> dict[str, Any] | None:
    """The setting API Gateway applies to a route: its own entry, else the stage default (/*, *)."""
    settings = properties(api).get("MethodSettings") or []
    for wanted in ((encoded_path(path), method.upper()), ("/*", "*")):
        for setting in settings:
            if (setting.get("ResourcePath"), str(setting.get("HttpMethod")).upper()) == wanted:
                return dict(setting)
    return None


def throttling_problems(template: Template) -> list[str]:
    apis = resources_of_type(template, API_TYPE)
    problems = []
    for api_id, path, method in routes(template):
        setting = method_setting(apis[api_id], path, "*" if method == "any" else method)
        burst = (setting or {}).get("ThrottlingBurstLimit")
        rate = (setting or {}).get("ThrottlingRateLimit")
        if not (isinstance(burst, int) and isinstance(rate, int | float) and 0 < rate <= burst):
            problems.append(f"{method.upper()} {path}: not throttled (burst {burst}, rate {rate})")
    # An entry for a route that no longer exists would leave its renamed route on the default.
    known = {(encoded_path(path), method.upper()) for _, path, method in routes(template)}
    known |= {(encoded_path(path), "*") for _, path, method in routes(template) if method == "any"}
    for api_id, api in apis.items():
        for setting in properties(api).get("MethodSettings") or []:
            key = (setting.get("ResourcePath"), str(setting.get("HttpMethod")).upper())
            if key != ("/*", "*") and key not in known:
                problems.append(f"{api_id}: method setting {key} names no route")
    return problems


def api_5xx_problems(template: Template) -> list[str]:
    problems = []
    for api_id, api in resources_of_type(template, API_TYPE).items():
        wanted = {"ApiName": properties(api).get("Name"), "Stage": properties(api).get("StageName")}
        if wanted["ApiName"] is None:
            problems.append(f"{api_id}: no Name, so no alarm can name it")
        found = False
        for props in alarms(template).values():
            stats = {
                query["Id"]: query["MetricStat"]["Metric"]
                for query in props.get("Metrics") or []
                if "MetricStat" in query and query["MetricStat"]["Metric"].get("Namespace") == "AWS/ApiGateway"
            }
            names = {metric["MetricName"]: dimensions(metric) for metric in stats.values()}
            if names.get("5XXError") == wanted and names.get("Count") == wanted:
                found = True
                returned = [q for q in props["Metrics"] if q.get("ReturnData", True) and "Expression" in q]
                if len(returned) != 1 or not set(stats) <= set(re.findall(r"[a-z_]\w*", returned[0]["Expression"])):
                    problems.append(f"{api_id}: the 5xx alarm's expression does not use both metrics")
                if OPERATIONS_TOPIC not in props.get("AlarmActions", []):
                    problems.append(f"{api_id}: the 5xx alarm does not notify OperationsAlarmTopic")
        if not found:
            problems.append(f"{api_id}: no 5XXError alarm on ApiName {wanted['ApiName']} and Stage {wanted['Stage']}")
    return problems


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_the_template_has_what_these_tests_walk() -> None:
    assert function_ids(TEMPLATE)
    assert dead_letter_queues(TEMPLATE)
    assert routes(TEMPLATE)


def test_every_function_has_an_errors_alarm() -> None:
    assert lambda_alarm_problems(TEMPLATE, "Errors") == []


def test_every_function_has_a_throttles_alarm() -> None:
    assert lambda_alarm_problems(TEMPLATE, "Throttles") == []


def test_every_dead_letter_queue_has_a_depth_alarm() -> None:
    assert dead_letter_queue_problems(TEMPLATE) == []


def test_every_function_has_a_log_group_with_the_stacks_retention() -> None:
    assert log_group_problems(TEMPLATE) == []


def test_the_api_has_a_5xx_alarm_on_its_name_and_stage() -> None:
    assert api_5xx_problems(TEMPLATE) == []


def test_every_route_is_throttled() -> None:
    assert throttling_problems(TEMPLATE) == []


def test_every_alarm_notifies_someone_and_links_a_runbook_section_that_exists() -> None:
    for alarm_id, props in alarms(TEMPLATE).items():
        assert props.get("AlarmActions"), alarm_id
        description = props["AlarmDescription"]
        text = description["Fn::Sub"] if isinstance(description, dict) else description
        link = re.search(r"\$\{AlertRunbookBaseUrl\}([\w.]+\.md)#([\w-]+)", text)
        assert link, f"{alarm_id}: its description links no runbook"
        page = RUNBOOKS / link.group(1)
        assert page.is_file(), f"{alarm_id}: {page} does not exist"
        assert link.group(2) in heading_anchors(page.read_text()), f"{alarm_id}: no section #{link.group(2)}"


def test_every_alarm_pages_through_the_dispatcher_and_its_ok_resolves_the_alert() -> None:
    # One pager path: OperationsAlarmTopic feeds AlertDispatcherFunction (cloudwatch_alarm alerts), and
    # an alarm's OK must reach it too, or its alert would never resolve.
    dispatcher = properties(TEMPLATE["Resources"]["AlertDispatcherFunction"])
    topics = [event["Properties"]["Topic"] for event in dispatcher["Events"].values() if event["Type"] == "SNS"]
    assert OPERATIONS_TOPIC in topics
    for alarm_id, props in alarms(TEMPLATE).items():
        if OPERATIONS_TOPIC in props.get("AlarmActions", []):
            assert OPERATIONS_TOPIC in props.get("OKActions", []), f"{alarm_id}: its OK is not on OperationsAlarmTopic"


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("alert_type", list(RuleSet.load()))
def test_every_alert_type_has_a_runbook_that_says_what_to_do(alert_type: str) -> None:
    # Alert messages link <ALERT_RUNBOOK_BASE_URL><alert_type>.md.
    page = RUNBOOKS / f"{alert_type}.md"
    assert page.is_file(), f"alerts of type {alert_type} link {page}, which does not exist"
    anchors = heading_anchors(page.read_text())
    assert {"what-it-means", "what-to-check", "silencing-it-during-a-deployment"} <= anchors, anchors
    silencing = page.read_text().split("## Silencing it during a deployment", 1)[1].replace("\\", "")
    assert f'"type": "{alert_type}"' in silencing, "no silence request for this type"


# ---------------------------------------------------------------------------
# The checks see an omission (so the tests above can fail)
# ---------------------------------------------------------------------------


def with_new_function(template: Template, like: str, name: str) -> Template:
    changed = copy.deepcopy(template)
    changed["Resources"][name] = copy.deepcopy(template["Resources"][like])
    return changed


def test_a_function_added_without_alarms_or_log_group_is_reported() -> None:
    template = with_new_function(TEMPLATE, like="HealthFunction", name="ExampleNewFunction")
    template["Resources"]["ExampleNewFunction"]["Properties"]["Events"] = {}  # no route of its own
    assert lambda_alarm_problems(template, "Errors") == ["ExampleNewFunction: no Errors alarm"]
    assert lambda_alarm_problems(template, "Throttles") == ["ExampleNewFunction: no Throttles alarm"]
    assert log_group_problems(template) == ["ExampleNewFunction: 0 log groups, expected one"]


def test_a_dead_letter_queue_added_without_an_alarm_is_reported() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["ReportsDeadLetterQueue"] = {"Type": QUEUE_TYPE, "Properties": {}}
    template["Resources"]["ReportsQueue"] = {
        "Type": QUEUE_TYPE,
        "Properties": {"RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["ReportsDeadLetterQueue", "Arn"]}}},
    }
    assert dead_letter_queue_problems(template) == ["ReportsDeadLetterQueue: no depth alarm"]

    # A function's on-failure destination is a dead-letter queue too.
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["ReportsDeadLetterQueue"] = {"Type": QUEUE_TYPE, "Properties": {}}
    properties(template["Resources"]["ScheduledChecksFunction"])["EventInvokeConfig"]["DestinationConfig"] = {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["ReportsDeadLetterQueue", "Arn"]}}
    }
    assert dead_letter_queue_problems(template) == ["ReportsDeadLetterQueue: no depth alarm"]


def test_an_unthrottled_route_and_a_stale_route_setting_are_reported() -> None:
    template = copy.deepcopy(TEMPLATE)
    api = properties(template["Resources"]["MonitoringApi"])
    api["MethodSettings"] = [s for s in api["MethodSettings"] if s["ResourcePath"] != "/*"]
    api["MethodSettings"].append({"ResourcePath": "/~1api~1gone", "HttpMethod": "POST", "ThrottlingBurstLimit": 1})
    problems = throttling_problems(template)
    assert "GET /api/health: not throttled (burst None, rate None)" in problems
    assert "MonitoringApi: method setting ('/~1api~1gone', 'POST') names no route" in problems


def test_a_5xx_alarm_on_another_api_name_is_reported() -> None:
    template = copy.deepcopy(TEMPLATE)
    properties(template["Resources"]["MonitoringApi"])["Name"] = "renamed-api"
    assert len(api_5xx_problems(template)) == 1
