"""The local API Gateway's Lambda REQUEST authorizers: the template's wiring, deny 403 in the bundle's
shape, the cache per identity source for ReauthorizeEvery, Unauthorized 401, failures 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from localdev.apigw import (
    ApiGateway,
    Authorizer,
    AuthorizerCache,
    GatewayResponses,
    Route,
    policy_allows,
    routes_from_template,
)
from localdev.runtime import InvocationResult
from localdev.stack import PROJECT_ROOT
from localdev.template import load_template
from tests.localdev.test_apigw import request
from tests.support.clock import Clock

GUARD = Authorizer("Guard", "GuardFunction", context=("identity.sourceIp",), ttl=30)
ROUTES = [
    Route("Health", "/api/health", "GET", authorizer="Guard"),
    Route("Blocks", "/api/security/blocks/{ip}", "ANY", authorizer=None),
]
TEMPLATE = load_template(PROJECT_ROOT / "template.yaml")


class Functions:
    def __init__(self) -> None:
        self.denied = {"127.0.0.9"}
        self.authorizer_calls: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.fail_with: str | None = None

    def __call__(self, function: str, event: dict[str, Any]) -> InvocationResult:
        if function == "GuardFunction":
            self.authorizer_calls.append(event)
            if self.fail_with:
                return InvocationResult("r", error={"errorType": "Exception", "errorMessage": self.fail_with})
            ip = event["requestContext"]["identity"]["sourceIp"]
            effect = "Deny" if ip in self.denied else "Allow"
            arn = event["methodArn"].split("/")[0] + "/dev/*"
            statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}
            return InvocationResult(
                "r",
                payload={
                    "principalId": ip,
                    "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                    "context": {"source_ip": ip},
                },
            )
        self.events.append(event)
        return InvocationResult("r", payload={"statusCode": 200, "body": json.dumps({"function": function})})


@pytest.fixture
def gateway() -> Iterator[tuple[ApiGateway, Functions, Clock]]:
    functions, clock = Functions(), Clock(1000.0)
    with ApiGateway(
        ROUTES,
        functions,
        port=0,
        log=lambda line: None,
        authorizers={"Guard": GUARD},
        authorizer_cache=AuthorizerCache(clock),
        gateway_responses=GatewayResponses.from_template(TEMPLATE),
    ) as api:
        yield api, functions, clock


def test_the_template_guards_every_route_but_the_blocks_api() -> None:
    routes = {(route.path, route.method): route.authorizer for route in routes_from_template(TEMPLATE)}
    assert routes[("/api/health", "GET")] == "IpGuard"
    assert routes[("/api/metrics", "GET")] == "IpGuard"
    assert routes[("/api/events", "POST")] == "IpGuard"
    assert routes[("/api/webhooks/stripe", "POST")] == "IpGuard"
    assert routes[("/api/security/blocks/{ip}", "ANY")] is None


def test_a_denied_source_ip_gets_403_in_the_bundles_shape_even_with_a_spoofed_header(
    gateway: tuple[ApiGateway, Functions, Clock],
) -> None:
    api, functions, _ = gateway
    status, _, body = request(api, "GET", "/api/health", source="127.0.0.9", headers={"X-Forwarded-For": "127.0.0.1"})
    assert status == 403
    assert json.loads(body) == {"error": {"code": "access_denied", "message": "Access from this address is blocked"}}
    assert functions.events == []
    # the route without an authorizer is still reachable
    assert request(api, "GET", "/api/security/blocks/1.2.3.4", source="127.0.0.9")[0] == 200


def test_an_allowed_request_carries_the_authorizer_context(gateway: tuple[ApiGateway, Functions, Clock]) -> None:
    api, functions, _ = gateway
    status, _, _ = request(api, "GET", "/api/health", source="127.0.0.10", headers={"X-Forwarded-For": "127.0.0.9"})
    assert status == 200
    assert functions.events[-1]["requestContext"]["authorizer"] == {
        "source_ip": "127.0.0.10",
        "principalId": "127.0.0.10",
    }
    call = functions.authorizer_calls[-1]
    assert call["type"] == "REQUEST"
    assert call["methodArn"].endswith(":local/dev/GET/api/health")


def test_decisions_are_cached_per_source_ip_for_the_ttl(gateway: tuple[ApiGateway, Functions, Clock]) -> None:
    api, functions, clock = gateway
    assert request(api, "GET", "/api/health", source="127.0.0.11")[0] == 200
    functions.denied.add("127.0.0.11")  # blocked now: the cached Allow still holds...
    clock.now += 29
    assert request(api, "GET", "/api/health", source="127.0.0.11")[0] == 200
    assert len(functions.authorizer_calls) == 1
    clock.now += 1  # ...until ReauthorizeEvery (30 s) has passed
    assert request(api, "GET", "/api/health", source="127.0.0.11")[0] == 403
    assert len(functions.authorizer_calls) == 2
    # another address has its own cache entry
    assert request(api, "GET", "/api/health", source="127.0.0.12")[0] == 200
    assert len(functions.authorizer_calls) == 3


def test_unauthorized_is_401_and_a_failing_authorizer_500(gateway: tuple[ApiGateway, Functions, Clock]) -> None:
    api, functions, _ = gateway
    functions.fail_with = "Unauthorized"
    status, _, body = request(api, "GET", "/api/health", source="127.0.0.13")
    assert (status, json.loads(body)["error"]["code"]) == (401, "unauthorized")
    functions.fail_with = "boom"
    status, _, body = request(api, "GET", "/api/health", source="127.0.0.14")
    assert (status, json.loads(body)["error"]["code"]) == (500, "AUTHORIZER_FAILURE")


def test_policy_evaluation() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:local/dev/GET/api/health"
    allow = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:local/dev/*"}
    deny = {**allow, "Effect": "Deny", "Resource": arn}
    assert policy_allows({"Statement": [allow]}, arn)
    assert not policy_allows({"Statement": [allow, deny]}, arn)
    # a policy naming only another route does not allow this one (the cached-policy pitfall)
    narrow = {**allow, "Resource": "arn:aws:execute-api:us-east-1:123456789012:local/dev/POST/api/events"}
    assert not policy_allows({"Statement": [narrow]}, arn)
    assert not policy_allows({}, arn)
