"""Check every function's settings before a deploy: `make check-config [CONFIG_ENV=prod | ENV_FILE=.env]`.

Each function of template.yaml gets the environment it would get deployed: the Globals' and its own
Environment variables, template parameters taken from samconfig.toml's `parameter_overrides` of
CONFIG_ENV (else their defaults), or, with ENV_FILE, that file over them (as the local stack does).
Each settings class its app.py loads (`load_settings(XSettings.from_env)`) then reads that
environment with every error collected; every bad or missing value is named, never a secret's value.
Resource names (!GetAtt, !Ref of a resource) become placeholders: the stack creates them.
`ssm:`/`secretsmanager:` references are checked for form only (resolving them needs the account).

    python scripts/check_config.py --config-env prod
    python scripts/check_config.py --env-file .env

Exit codes: 0 every function's settings are valid, 1 some are not, 2 wrong arguments.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import re
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from platform_monitoring.alerting.settings import AlertDispatcherSettings, AlertingSettings  # noqa: E402
from platform_monitoring.core.config import ConfigurationError, EnvReader  # noqa: E402
from platform_monitoring.core.env_file import read_env_file  # noqa: E402
from platform_monitoring.security.settings import SecuritySettings  # noqa: E402

from localdev.template.loading import FUNCTION_TYPE, load_template, resources_of_type  # noqa: E402

PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "askproai"}


# What `!Ref <resource>` gives, by type (CloudFormation's return values); others give the name.
REF_PLACEHOLDERS = {
    "AWS::SQS::Queue": "https://sqs.us-east-1.amazonaws.com/123456789012/{name}",
    "AWS::SNS::Topic": "arn:aws:sns:us-east-1:123456789012:{name}",
}


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Every `!Ref` target's value: parameters (overridden), pseudo parameters, resource placeholders."""
    resources = {
        name: REF_PLACEHOLDERS.get(str(resource.get("Type")), "{name}").format(name=name)
        for name, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, dict)
    }
    values = {name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()}
    return {**resources, **PSEUDO_PARAMETERS, **values, **overrides}


def samconfig_overrides(path: Path, config_env: str) -> dict[str, str]:
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    if config_env not in config:
        raise SystemExit(f"check-config: {path.name} has no [{config_env}] environment")
    overrides = config[config_env].get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    pairs = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def resolve(value: Any, parameters: dict[str, str]) -> str:  # noqa: PLR0911 - one return per intrinsic
    """A variable's value as the deployed function would see it (resources as placeholders)."""
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref":
            return parameters.get(argument, f"placeholder-{argument}")
        if function == "Fn::GetAtt":
            name = argument if isinstance(argument, str) else ".".join(argument)
            return f"arn:aws:placeholder:us-east-1:123456789012:{name}"
        if function == "Fn::Sub":
            text = argument if isinstance(argument, str) else argument[0]
            return re.sub(r"\$\{([^}]+)\}", lambda m: parameters.get(m.group(1), f"placeholder-{m.group(1)}"), text)
        return f"placeholder-{function}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(resolve(item, parameters) for item in value)
    return str(value)


def function_environment(
    template: dict[str, Any], resource: dict[str, Any], parameters: dict[str, str]
) -> dict[str, str]:
    globals_ = ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    own = ((resource.get("Properties") or {}).get("Environment")) or {}
    variables = {**(globals_.get("Variables") or {}), **(own.get("Variables") or {})}
    return {name: resolve(value, parameters) for name, value in variables.items()}


def settings_classes(app: Path) -> list[Any]:
    """The settings classes app.py reads (`XSettings.from_env`), imported from where app.py does."""
    tree = ast.parse(app.read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    names = [
        node.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "from_env" and isinstance(node.value, ast.Name)
    ]
    unique = list(dict.fromkeys(name for name in names if name in imported))
    return [getattr(importlib.import_module(imported[name]), name) for name in unique]


# What an app.py builds, and the settings whose require() that builder calls at cold start.
REQUIRED_BY_BUILDER = {
    "build_alerting_service": AlertingSettings,
    "build_escalator": AlertingSettings,
    "build_reconciler": AlertingSettings,
    "build_security_monitor": SecuritySettings,
    "AlertDispatcher": AlertDispatcherSettings,
}


def required_errors(settings: Any, app_source: str) -> list[str]:
    """Every error of the require() checks the function's builders make on its settings tree."""
    needed = tuple({kind for name, kind in REQUIRED_BY_BUILDER.items() if f"{name}(" in app_source})
    errors: list[str] = []
    pending, seen = [settings], set()
    while pending:
        item = pending.pop()
        if id(item) in seen or not dataclasses.is_dataclass(item) or isinstance(item, type):
            continue
        seen.add(id(item))
        if isinstance(item, needed):
            try:
                item.require()
            except ConfigurationError as error:
                errors.extend(message for message in error.errors if message not in errors)
        pending.extend(getattr(item, field.name) for field in dataclasses.fields(item))
    return errors


def settings_errors(settings_class: Any, environment: dict[str, str], app_source: str) -> list[str]:
    """Every error of one settings class over `environment`, as `load_settings` collects them, and
    those of the require() checks the function's builders make (with the defaults put in for the
    bad values, so a missing table is named beside a bad threshold)."""
    reader = EnvReader(environment, collect=True)
    settings = None
    try:
        settings = settings_class.from_env(reader)
    except ConfigurationError as error:  # a check across variables, raised by the class itself
        reader.errors.extend(message for message in error.errors if message not in reader.errors)
    except Exception:
        if not reader.errors:  # as load_settings: a default put in for a bad value may trip a later step
            raise
    return reader.errors + ([] if settings is None else required_errors(settings, app_source))


def check(template_path: Path, parameters: dict[str, str], env_file: dict[str, str]) -> dict[str, list[str]]:
    """{function logical id: every error of its settings} ([] when they are valid)."""
    template = load_template(template_path)
    report: dict[str, list[str]] = {}
    for logical_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        code = template_path.parent / str((resource.get("Properties") or {}).get("CodeUri", "")) / "app.py"
        environment = {**function_environment(template, resource, parameters), **env_file}
        errors: list[str] = []
        source = code.read_text(encoding="utf-8")
        for settings_class in settings_classes(code):
            for message in settings_errors(settings_class, environment, source):
                if message not in errors:
                    errors.append(message)
        report[logical_id] = errors
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check-config", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config-env", help="a samconfig.toml environment (its parameter_overrides)")
    source.add_argument("--env-file", type=Path, help="a .env file over the template's defaults")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--samconfig", type=Path, default=ROOT / "samconfig.toml")
    args = parser.parse_args(argv)
    overrides = samconfig_overrides(args.samconfig, args.config_env) if args.config_env else {}
    env_file = read_env_file(args.env_file) if args.env_file else {}
    if args.env_file and not args.env_file.is_file():
        parser.error(f"{args.env_file} does not exist")
    report = check(args.template, parameter_values(load_template(args.template), overrides), env_file)
    where = f"samconfig [{args.config_env}]" if args.config_env else (str(args.env_file or "template defaults"))
    for logical_id, errors in report.items():
        print(f"{'FAIL' if errors else 'PASS'} {logical_id}" + (":" if errors else ""))
        for error in errors:
            print(f"       {error}")
    bad = sum(1 for errors in report.values() if errors)
    print(f"check-config ({where}): {len(report) - bad} of {len(report)} functions' settings are valid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
