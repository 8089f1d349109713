"""A function's environment locally: the .env file, the shell's overrides, the template's variables
with their intrinsics resolved, and the AWS/Lambda variables the local stack owns."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_monitoring.core.env_file import read_env_file

from localdev.template.loading import FUNCTION_TYPE, Template, resources_of_type
from localdev.template.resources import LocalResources, Resolver
from localdev.template.specs import function


def load_dotenv(path: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """The variables of `path` (python-dotenv's rules, as every tool of the project reads them);
    when it does not exist, of the `.example` beside it."""
    file = Path(path)
    if not file.exists():
        file = file.with_name(file.name + ".example")
    return read_env_file(file)


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


def function_access_key(logical_id: str) -> str:
    """The dummy access key a function signs its AWS requests with: its own, as each Lambda function
    signs with its own role's credentials, so moto's call log (localdev/moto_server.py) names the caller."""
    return f"role-{logical_id}"


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
    env["AWS_ACCESS_KEY_ID"] = function_access_key(logical_id)
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
