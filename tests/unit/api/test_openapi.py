"""docs/openapi.yaml is a valid OpenAPI 3 document and describes exactly the template's routes."""

from __future__ import annotations

from typing import Any

import yaml
from openapi_spec_validator import validate
from platform_monitoring.alerting.rules import SEVERITIES, RuleSet
from platform_monitoring.alerting.store import STATUSES
from platform_monitoring.security.events import EVENT_TYPES

from localdev.template import functions, load_template
from tests.support.functions import ROOT

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    return loaded


def template_routes() -> dict[str, str]:
    """path -> method ("any" where the function itself answers other methods with 405)."""
    template = load_template(ROOT / "template.yaml")
    return {event.path: event.method.lower() for spec in functions(template) for event in spec.api_events}


def test_the_document_is_valid_openapi() -> None:
    validate(document())


def test_every_template_route_is_documented_and_nothing_else() -> None:
    documented = {path: set(item) & HTTP_METHODS for path, item in document()["paths"].items()}
    routes = template_routes()
    assert set(documented) == set(routes)
    for path, method in routes.items():
        if method == "any":
            assert documented[path], path
        else:
            assert documented[path] == {method}, path


def test_every_operation_says_how_it_is_authenticated_and_answers_json_errors() -> None:
    for path, item in document()["paths"].items():
        for method in set(item) & HTTP_METHODS:
            operation = item[method]
            assert operation.get("security"), f"{method} {path} has no security scheme"
            assert "401" in operation["responses"] or "400" in operation["responses"], f"{method} {path}"
            # Every route is throttled by API Gateway (MethodSettings in template.yaml).
            assert "429" in operation["responses"], f"{method} {path} does not document throttling"


def test_documented_filters_and_states_are_the_librarys() -> None:
    doc = document()
    parameters = {p["name"]: p for p in doc["paths"]["/api/alerts"]["get"]["parameters"]}
    assert parameters["severity"]["schema"]["enum"] == list(SEVERITIES)
    assert parameters["status"]["schema"]["enum"] == [*STATUSES, "active"]
    schemas = doc["components"]["schemas"]
    assert schemas["Alert"]["properties"]["status"]["enum"] == list(STATUSES)
    assert set(schemas["SecurityEvent"]["properties"]["type"]["enum"]) == set(EVENT_TYPES)
    assert schemas["AlertType"]["enum"] == list(RuleSet.load())  # alert_rules.json, in its order
