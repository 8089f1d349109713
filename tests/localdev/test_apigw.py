"""The local API Gateway: routing, the REST v1 proxy event, proxy responses and gateway errors."""

from __future__ import annotations

import base64
import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localdev.apigw import (
    ApiGateway,
    GatewayResponses,
    MalformedResponseError,
    Route,
    Router,
    build_event,
    is_text,
    proxy_response,
    routes_from_template,
)
from localdev.runtime import InvocationResult
from localdev.template import load_template

ROUTES = [
    Route("Items", "/items/{id}", "GET"),
    Route("Special", "/items/special", "POST"),
    Route("Ack", "/alerts/{id}/ack", "POST"),
    Route("Files", "/files/{path+}", "ANY"),
    Route("Health", "/api/health", "GET"),
]


def test_router_picks_the_most_specific_resource_then_the_method() -> None:
    router = Router(ROUTES)
    assert router.resolve("GET", "/items/42") == (ROUTES[0], {"id": "42"})
    assert router.resolve("POST", "/items/special") == (ROUTES[1], {})
    # /items/special is a literal resource: GET on it is not routed to /items/{id} (API Gateway does the same).
    assert router.resolve("GET", "/items/special") is None
    assert router.resolve("POST", "/alerts/a1/ack") == (ROUTES[2], {"id": "a1"})
    assert router.resolve("DELETE", "/files/a/b/c.txt") == (ROUTES[3], {"path": "a/b/c.txt"})
    assert router.resolve("GET", "/files") is None
    assert router.resolve("GET", "/items/1/extra") is None
    assert router.resolve("POST", "/api/health") is None


def test_routes_come_from_the_template(sample_template: Path) -> None:
    routes = routes_from_template(load_template(sample_template))
    assert Route("Fn", "/alerts/{id}/ack", "POST") in routes
    assert Route("Fn", "/files/{path+}", "ANY") in routes


def test_text_or_binary() -> None:
    assert is_text("application/json; charset=utf-8", b"{}")
    assert is_text("text/plain", b"hi")
    assert is_text("application/vnd.api+json", b"{}")
    assert is_text(None, b"plain words")
    assert not is_text(None, b"\xff\xfe")
    assert not is_text("application/octet-stream", b"abc")
    assert not is_text("image/png", b"abc")
    assert not is_text("application/json", b"{}", binary_media_types=["application/*"])


def test_event_shape() -> None:
    event = build_event(
        ROUTES[2],
        method="POST",
        raw_path="/alerts/a%2F1/ack",
        query="x=1&x=2&flag&q=a%20b",
        headers=[("Content-Type", "application/json"), ("X-Multi", "1"), ("x-multi", "2"), ("User-Agent", "t")],
        body=b'{"note": "hi"}',
        source_ip="127.0.0.9",
        path_parameters={"id": "a%2F1"},
        stage="dev",
        request_id="rid",
    )
    assert event["resource"] == "/alerts/{id}/ack"
    assert event["path"] == "/alerts/a%2F1/ack"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"id": "a%2F1"}  # REST APIs do not decode path parameters
    assert event["queryStringParameters"] == {"x": "2", "flag": "", "q": "a b"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "flag": [""], "q": ["a b"]}
    assert event["headers"]["X-Multi"] == "2"
    assert event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.9"
    assert event["stageVariables"] is None
    assert event["body"] == '{"note": "hi"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == "rid"
    assert context["identity"]["sourceIp"] == "127.0.0.9"
    assert context["identity"]["userAgent"] == "t"
    assert context["resourcePath"] == "/alerts/{id}/ack"
    assert context["path"] == "/dev/alerts/a%2F1/ack"
    assert context["stage"] == "dev"
    assert context["httpMethod"] == "POST"
    assert isinstance(context["requestTimeEpoch"], int)


def test_event_without_query_or_body_uses_nulls() -> None:
    event = build_event(
        ROUTES[4], method="GET", raw_path="/api/health", query="", headers=[], body=b"", source_ip="1.2.3.4"
    )
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_proxy_response_rules() -> None:
    status, headers, body = proxy_response(
        {
            "statusCode": "202",
            "headers": {"X-A": "single", "X-B": 1},
            "multiValueHeaders": {"X-A": ["m1", "m2"], "Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )
    assert status == 202
    assert ("X-A", "m1") in headers and ("X-A", "m2") in headers and ("X-A", "single") not in headers
    assert ("X-B", "1") in headers
    assert headers.count(("Set-Cookie", "a=1")) == 1
    assert ("Content-Type", "application/json") in headers
    assert body == b"\x00\x01"
    for bad in ({"body": "x"}, {"statusCode": 200, "body": {"not": "a string"}}, ["list"], {"statusCode": 99}):
        with pytest.raises(MalformedResponseError):
            proxy_response(bad)


def test_gateway_responses_render_the_templates_shape() -> None:
    template = '{"error": {"code": "$context.error.responseType", "message": $context.error.messageString}}'
    responses = GatewayResponses(
        {
            "DEFAULT_4XX": {"ResponseTemplates": {"application/json": template}},
            "MISSING_AUTHENTICATION_TOKEN": {"StatusCode": 404, "ResponseParameters": {"Headers": {"X-Why": "'no'"}}},
        }
    )
    status, headers, body = responses.render("MISSING_AUTHENTICATION_TOKEN", "rid")
    assert status == 404
    assert ("X-Why", "no") in headers
    assert json.loads(body) == {
        "error": {"code": "MISSING_AUTHENTICATION_TOKEN", "message": "Missing Authentication Token"}
    }
    status, _, body = GatewayResponses().render("INTEGRATION_FAILURE", "rid")
    assert status == 502
    assert json.loads(body) == {"error": {"code": "INTEGRATION_FAILURE", "message": "Internal server error"}}


# ---------------------------------------------------------------------------
# Over HTTP, with a fake function behind it
# ---------------------------------------------------------------------------


class FakeFunctions:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, function: str, event: dict[str, Any]) -> InvocationResult:
        self.events.append(event)
        if event["path"] == "/items/error":
            return InvocationResult("r", error={"errorType": "ValueError", "errorMessage": "boom"})
        if event["path"] == "/items/malformed":
            return InvocationResult("r", payload={"body": "no status"})
        if event["path"].startswith("/files/bin"):
            return InvocationResult(
                "r",
                payload={
                    "statusCode": 200,
                    "headers": {"Content-Type": "application/octet-stream"},
                    "body": base64.b64encode(b"\x89PNG\x00").decode(),
                    "isBase64Encoded": True,
                },
            )
        return InvocationResult(
            "r",
            payload={
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
                "body": json.dumps({"function": function}),
            },
        )


@pytest.fixture
def gateway() -> Iterator[tuple[ApiGateway, FakeFunctions]]:
    functions = FakeFunctions()
    lines: list[str] = []
    with ApiGateway(ROUTES, functions, port=0, log=lines.append) as api:
        yield api, functions


def request(
    api: ApiGateway,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> tuple[int, dict[str, list[str]], bytes]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", api.port, timeout=30, source_address=(source, 0) if source else None
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        collected: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            collected.setdefault(name.lower(), []).append(value)
        return response.status, collected, response.read()
    finally:
        connection.close()


def test_source_ip_is_the_tcp_peer_never_x_forwarded_for(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, functions = gateway
    status, _, _ = request(api, "GET", "/items/7", headers={"X-Forwarded-For": "203.0.113.5"}, source="127.0.0.9")
    assert status == 200
    event = functions.events[-1]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.9"
    assert event["headers"]["X-Forwarded-For"] == "203.0.113.5, 127.0.0.9"
    assert event["pathParameters"] == {"id": "7"}


def test_response_headers_and_status_pass_through(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, _ = gateway
    status, headers, body = request(api, "GET", "/items/7")
    assert status == 200
    assert headers["set-cookie"] == ["a=1", "b=2"]
    assert headers["content-type"] == ["application/json"]
    assert headers["x-amzn-requestid"]
    assert json.loads(body) == {"function": "Items"}


def test_binary_request_and_response_bodies(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, functions = gateway
    payload = bytes(range(256))
    status, headers, body = request(
        api, "PUT", "/files/bin/x.png", body=payload, headers={"Content-Type": "application/octet-stream"}
    )
    event = functions.events[-1]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload
    assert event["pathParameters"] == {"path": "bin/x.png"}
    assert status == 200 and body == b"\x89PNG\x00"
    assert headers["content-type"] == ["application/octet-stream"]


def test_unknown_route_and_wrong_method_are_api_gateways_403(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, functions = gateway
    for method, path in (("GET", "/nowhere"), ("DELETE", "/items/7"), ("GET", "/items/special")):
        status, headers, body = request(api, method, path)
        assert status == 403
        assert headers["content-type"] == ["application/json"]
        assert json.loads(body) == {
            "error": {"code": "MISSING_AUTHENTICATION_TOKEN", "message": "Missing Authentication Token"}
        }
    assert functions.events == []


def test_function_errors_and_malformed_answers_are_502(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, _ = gateway
    for path in ("/items/error", "/items/malformed"):
        status, _, body = request(api, "GET", path)
        assert status == 502
        assert json.loads(body) == {"error": {"code": "INTEGRATION_FAILURE", "message": "Internal server error"}}


def test_body_over_10_mb_is_413(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, functions = gateway
    status, _, body = request(api, "POST", "/files/big", body=b"x" * (10 * 1024 * 1024 + 1))
    assert status == 413
    assert json.loads(body)["error"]["code"] == "REQUEST_TOO_LARGE"
    assert functions.events == []
    status, _, _ = request(api, "POST", "/files/ok", body=b"x" * 1024)
    assert status == 200


def test_chunked_request_body(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, functions = gateway
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as sock:
        sock.sendall(
            b"POST /files/chunked HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert functions.events[-1]["body"] == "hello world"


def test_head_has_no_body(gateway: tuple[ApiGateway, FakeFunctions]) -> None:
    api, _ = gateway
    status, headers, body = request(api, "HEAD", "/files/x")
    assert status == 200 and body == b""
    assert int(headers["content-length"][0]) > 0
