"""samconfig.toml has every environment the README names, each complete for build, validate and
deploy, and the README's deploy walk-through answers every parameter `sam deploy --guided` asks."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

import pytest

from localdev.template import load_template

ROOT = Path(__file__).resolve().parents[3]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
PARAMETERS = load_template(ROOT / "template.yaml")["Parameters"]
ENVIRONMENTS = {"default": "dev", "dev": "dev", "staging": "staging", "prod": "prod"}


def overrides(environment: str) -> dict[str, str]:
    text = CONFIG[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(text))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_has_build_validate_and_deploy(environment: str) -> None:
    sections = CONFIG[environment]
    stage = ENVIRONMENTS[environment]
    assert sections["global"]["parameters"]["stack_name"] == f"askproai-monitoring-{stage}"
    assert sections["build"]["parameters"]["parallel"] is True
    assert sections["validate"]["parameters"]["lint"] is True
    deploy = sections["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert overrides(environment)["Stage"] == stage


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overrides_name_template_parameters(environment: str) -> None:
    unknown = set(overrides(environment)) - set(PARAMETERS)
    assert not unknown, f"[{environment}] parameter_overrides names no template parameter: {unknown}"


def test_default_is_dev() -> None:
    assert CONFIG["default"] == CONFIG["dev"]


def test_readme_walkthrough_answers_every_guided_prompt() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Deploy to your AWS account")
    section = readme[start : readme.index("\n## ", start + 1)]
    missing = [name for name in PARAMETERS if f"`{name}`" not in section]
    assert not missing, f"the README's deploy walk-through does not answer: {missing}"
    hidden = [name for name, spec in PARAMETERS.items() if spec.get("NoEcho")]
    for name in hidden:
        assert f"`{name}` (hidden)" in section, f"{name} is NoEcho: guided asks it hidden, with no default"
    for prompt in (
        "Stack Name",
        "AWS Region",
        "Confirm changes before deploy",
        "Allow SAM CLI IAM role creation",
        "Disable rollback",
        "has no authentication",
        "Save arguments to configuration file",
        "SAM configuration environment",
    ):
        assert prompt in section, prompt
