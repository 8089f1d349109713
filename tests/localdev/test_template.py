"""template.yaml parsing, intrinsic resolution, Globals merge and environment precedence (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localdev.stack import PROJECT_ROOT, stack_overrides
from localdev.template import (
    ApiEvent,
    LocalResources,
    Resolver,
    ScheduleEvent,
    SnsEvent,
    SqsEvent,
    Template,
    TemplateError,
    describe_resources,
    function,
    function_environment,
    functions,
    load_dotenv,
    load_template,
    local_overrides,
    rate_seconds,
)

ENDPOINT = "http://127.0.0.1:5999"


@pytest.fixture
def template(sample_template: Path) -> Template:
    return load_template(sample_template)


@pytest.fixture
def resources(template: Template) -> LocalResources:
    return describe_resources(template, ENDPOINT)


def test_short_tags_become_long_form_intrinsics(template: Template) -> None:
    variables = template["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]
    assert variables["QUEUE_URL"] == {"Ref": "Work"}
    assert variables["QUEUE_ARN"] == {"Fn::GetAtt": ["Work", "Arn"]}
    assert variables["LOG_GROUP"] == {"Fn::Sub": "/aws/lambda/${Fn}"}
    assert template["Conditions"]["InVpc"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Subnets"}]}, ""]}]
    }


def test_the_projects_template_loads() -> None:
    template = load_template(PROJECT_ROOT / "template.yaml")
    assert "HealthFunction" in [spec.logical_id for spec in functions(template)]


def test_functions_merge_globals_and_parse_events(template: Template) -> None:
    spec = function(template, "Fn")
    assert (spec.code_uri, spec.handler, spec.timeout, spec.memory_size) == ("fn/", "app.lambda_handler", 2, 384)
    assert spec.layers == ("Lib",)
    assert ApiEvent("Get", "/items/{id}", "get", "Api") in spec.api_events
    assert ApiEvent("Files", "/files/{path+}", "any", "Api") in spec.api_events
    assert SqsEvent("Jobs", "Work", batch_size=5, report_batch_item_failures=True) in spec.sqs_events
    assert SqsEvent("Plain", "Plain", batch_size=10, report_batch_item_failures=False) in spec.sqs_events
    assert spec.sns_events == [SnsEvent("Notify", "Alerts")]
    assert spec.schedule_events == [ScheduleEvent("Tick", "rate(5 minutes)", 300)]
    other = function(template, "Other")
    assert (other.timeout, other.memory_size, other.events) == (7, 256, ())
    with pytest.raises(TemplateError, match="no function 'Missing'"):
        function(template, "Missing")


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rate_expressions(expression: str, seconds: int) -> None:
    assert rate_seconds(expression) == seconds


def test_cron_is_recognised_but_not_timed() -> None:
    assert rate_seconds("cron(0 12 * * ? *)") is None
    with pytest.raises(TemplateError):
        rate_seconds("every minute")


def test_refs_getatts_and_pseudo_parameters(template: Template, resources: LocalResources) -> None:
    resolver = Resolver(template, resources)
    assert resolver.ref("Work") == f"{ENDPOINT}/123456789012/Work"
    assert resolver.ref("Table") == "Table"
    assert resolver.ref("Alerts") == "arn:aws:sns:us-east-1:123456789012:Alerts"
    assert resolver.ref("Stage") == "dev"
    assert resolver.ref("Subnets") == [""]
    assert resolver.ref("AWS::AccountId") == "123456789012"
    assert resolver.resolve({"Fn::GetAtt": ["WorkDLQ", "Arn"]}) == "arn:aws:sqs:us-east-1:123456789012:WorkDLQ"
    assert resolver.resolve({"Fn::GetAtt": ["Work", "QueueName"]}) == "Work"
    with pytest.raises(TemplateError):
        resolver.ref("Nope")


def test_sub_if_join_select_and_novalue(template: Template, resources: LocalResources) -> None:
    resolver = Resolver(template, resources)
    assert resolver.resolve({"Fn::Sub": "${AWS::Region}:${Work.QueueName}:${Stage}"}) == "us-east-1:Work:dev"
    assert resolver.resolve({"Fn::Sub": ["${A}-${Stage}", {"A": {"Ref": "AWS::Partition"}}]}) == "aws-dev"
    assert resolver.resolve({"Fn::Sub": "${!Literal}"}) == "${Literal}"
    assert resolver.condition("InVpc") is False
    assert resolver.condition("IsDev") is True
    assert resolver.resolve({"Fn::If": ["IsDev", "a", "b"]}) == "a"
    assert resolver.resolve({"Fn::Join": ["-", [{"Fn::Select": [1, ["a", "b"]]}, "c"]]}) == "b-c"
    assert resolver.resolve({"K": {"Fn::If": ["InVpc", "x", {"Ref": "AWS::NoValue"}]}, "L": 1}) == {"L": 1}
    assert resolver.resolve({"Fn::Split": [",", "a,b"]}) == ["a", "b"]


def test_parameters_and_conditions_follow_parameter_overrides(template: Template, resources: LocalResources) -> None:
    resolver = Resolver(template, resources, parameters={"Stage": "prod", "Subnets": "subnet-1,subnet-2"})
    assert resolver.condition("IsDev") is False
    assert resolver.condition("InVpc") is True
    assert resolver.ref("Subnets") == ["subnet-1", "subnet-2"]


def test_function_environment_resolves_and_merges_globals(template: Template, resources: LocalResources) -> None:
    env = function_environment(template, "Fn", resources)
    assert env["SHARED"] == "from-function"  # the function's value beats Globals
    assert env["STAGE"] == "dev"
    assert env["SECRET"] == "ssm:/sample/secret"
    assert env["MODE"] == "development"
    assert env["VPC"] == "no"
    assert "NOVALUE" not in env
    assert env["QUEUE_URL"] == f"{ENDPOINT}/123456789012/Work"
    assert env["QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:Work"
    assert env["LOG_GROUP"] == "/aws/lambda/Fn"
    assert env["SUBBED"] == "us-east-1:123456789012:Work:dev"
    assert env["JOINED"] == "b-aws"
    assert env["AWS_ENDPOINT_URL"] == ENDPOINT
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"] == "role-Fn"  # its own, as its role's credentials would be
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "Fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "384"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "2"
    # Another function gets the Globals but not Fn's own variables.
    other = function_environment(template, "Other", resources)
    assert other["SHARED"] == "from-globals"
    assert "QUEUE_URL" not in other
    assert other["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "7"


def test_overrides_win_but_never_redirect_aws(template: Template, resources: LocalResources) -> None:
    overrides = {
        "SECRET": "local-secret",
        "SHARED": "overridden",
        "EXTRA": "x",
        "AWS_ENDPOINT_URL": "https://real-aws.example",
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
    }
    env = function_environment(template, "Fn", resources, overrides)
    assert env["SECRET"] == "local-secret"
    assert env["SHARED"] == "overridden"
    assert env["EXTRA"] == "x"
    assert env["AWS_ENDPOINT_URL"] == ENDPOINT
    assert env["AWS_ACCESS_KEY_ID"] == "role-Fn"  # its own, as its role's credentials would be


def test_shell_beats_dotenv_and_only_known_names_leak_in(template: Template) -> None:
    dotenv = {"SECRET": "from-dotenv", "EXTRA": "only-in-dotenv", "STRIPE_API_BASE": "http://127.0.0.1:8420"}
    shell = {"SECRET": "from-shell", "STAGE": "shell-stage", "HOME": "/root", "PATH": "/bin", "EXTRA": "shell-extra"}
    overrides = local_overrides(template, dotenv, shell)
    assert overrides == {
        "SECRET": "from-shell",  # in .env and the shell: the shell wins
        "EXTRA": "shell-extra",
        "STAGE": "shell-stage",  # declared by the template: the shell may override it
        "STRIPE_API_BASE": "http://127.0.0.1:8420",
    }
    # The running stack's own localstripe beats .env's default, but not an explicit shell value.
    assert stack_overrides(template, dotenv, {}, stripe_url="http://127.0.0.1:1234")["STRIPE_API_BASE"] == (
        "http://127.0.0.1:1234"
    )
    explicit = {"STRIPE_API_BASE": "http://127.0.0.1:9"}
    assert stack_overrides(template, dotenv, explicit, stripe_url="http://127.0.0.1:1234")["STRIPE_API_BASE"] == (
        "http://127.0.0.1:9"
    )


def test_load_dotenv_parses_and_falls_back_to_example(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("FROM_EXAMPLE=1\n", encoding="utf-8")
    assert load_dotenv(tmp_path / ".env") == {"FROM_EXAMPLE": "1"}
    (tmp_path / ".env").write_text(
        "# comment\n"
        "\n"
        "PLAIN=value\n"
        "EMPTY=\n"
        "export EXPORTED=yes\n"
        "SPACED = padded \n"
        'QUOTED="a # not a comment"\n'
        "SINGLE='x=y'\n"
        "INLINE=value # comment\n"
        "URL=redis://127.0.0.1:6379/0\n"
        "not a line\n",
        encoding="utf-8",
    )
    assert load_dotenv(tmp_path / ".env") == {
        "PLAIN": "value",
        "EMPTY": "",
        "EXPORTED": "yes",
        "SPACED": "padded",
        "QUOTED": "a # not a comment",
        "SINGLE": "x=y",
        "INLINE": "value",
        "URL": "redis://127.0.0.1:6379/0",
    }
    assert load_dotenv(tmp_path / "missing" / ".env") == {}


def test_the_projects_env_example_parses() -> None:
    values = load_dotenv(PROJECT_ROOT / ".env.example")
    assert values["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert values["SENTRY_LARAVEL_DSN"] == ""


def test_describe_resources_is_deterministic(template: Template) -> None:
    described = describe_resources(template, ENDPOINT)
    assert described["Ordered"]["QueueName"] == "Ordered.fifo"
    assert described["Table"] == {
        "Ref": "Table",
        "TableName": "Table",
        "Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/Table",
    }
    assert LocalResources.from_json(described.to_json()) == described
