"""template.yaml as the single source of truth for the local stack.

Reads the SAM template (CloudFormation short tags included), lists its functions and their event
sources, creates its queues, tables and topics in a moto server, and resolves the intrinsics a
function's environment uses. Importing this package has no side effects.

One module per part, in the order they build on each other:

- `loading`: the template's vocabulary (resource types, account, region, Lambda's defaults),
  `load_template` and `resources_of_type`;
- `specs`: the functions and their events (`functions`, `function`, `FunctionSpec`, `SqsEvent`, ...);
- `resources`: the local resources and intrinsic resolution (`create_resources`,
  `describe_resources`, `LocalResources`, `Resolver`, `aws_client`);
- `environment`: a function's environment (`load_dotenv`, `local_overrides`, `function_environment`).

Everything callers use is importable from `localdev.template` itself.
"""

from __future__ import annotations

from localdev.template.environment import (
    declared_variables,
    function_access_key,
    function_environment,
    load_dotenv,
    local_overrides,
)
from localdev.template.loading import (
    ACCOUNT_ID,
    API_TYPE,
    DEFAULT_MEMORY,
    DEFAULT_REGION,
    DEFAULT_TIMEOUT,
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
from localdev.template.resources import (
    LocalResources,
    Resolver,
    aws_client,
    create_resources,
    describe_resources,
    verify_ses_identities,
)
from localdev.template.specs import (
    ApiEvent,
    Event,
    FunctionSpec,
    ScheduleEvent,
    SnsEvent,
    SqsEvent,
    function,
    functions,
    layer_content_uri,
    rate_seconds,
)

__all__ = [
    "ACCOUNT_ID",
    "API_TYPE",
    "DEFAULT_MEMORY",
    "DEFAULT_REGION",
    "DEFAULT_TIMEOUT",
    "EVENT_BUS_TYPE",
    "EVENT_RULE_TYPE",
    "FUNCTION_TYPE",
    "IP_SET_TYPE",
    "LAYER_TYPES",
    "NO_VALUE",
    "PARTITION",
    "QUEUE_TYPE",
    "SIMPLE_TABLE_TYPE",
    "TABLE_TYPE",
    "TOPIC_TYPE",
    "ApiEvent",
    "Event",
    "FunctionSpec",
    "LocalResources",
    "Resolver",
    "ScheduleEvent",
    "SnsEvent",
    "SqsEvent",
    "Template",
    "TemplateError",
    "aws_client",
    "create_resources",
    "declared_variables",
    "describe_resources",
    "function",
    "function_access_key",
    "function_environment",
    "functions",
    "layer_content_uri",
    "load_dotenv",
    "load_template",
    "local_overrides",
    "rate_seconds",
    "resources_of_type",
    "verify_ses_identities",
]
