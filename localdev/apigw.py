"""API Gateway (REST API, Lambda proxy integration) on loopback, routed by the template's Api events.

What it reproduces, and why:
- The event is the REST API v1 proxy event. requestContext.identity.sourceIp is the TCP peer: the
  address API Gateway itself would see. X-Forwarded-For from the client is passed through with the
  peer appended, exactly as API Gateway does, so code that trusts that header is caught locally.
- Path parameters and `path` keep their percent-encoding (REST APIs do not decode them); query
  parameters are decoded.
- A request that matches no resource, or a resource without that method, gets API Gateway's
  MISSING_AUTHENTICATION_TOKEN answer (403), not 404/405: that is what the deployed API returns,
  and a local stack that answered differently would let tests pass that fail in AWS. A template
  can change it like in AWS, with GatewayResponses (e.g. MISSING_AUTHENTICATION_TOKEN StatusCode 404).
- API Gateway's own answers (no route 403, body over 10 MB 413, function error or timeout 502)
  are rendered through the template's GatewayResponses templates; without one, the body is
  {"error": {"code": <response type>, "message": ...}}.
- Lambda REQUEST authorizers declared in the template (the API's Auth.Authorizers, its
  DefaultAuthorizer, an event's Auth.Authorizer or NONE) run with the real function before the
  route's. Like API Gateway: a missing identity source is 401 without calling the authorizer; the
  returned policy is cached per identity source values for ReauthorizeEvery seconds (default 300,
  0 = no cache) and evaluated against each request's method ARN, so a policy naming only the first
  route denies the next one; Deny is 403 ACCESS_DENIED, an "Unauthorized" error 401 UNAUTHORIZED,
  any other failure 500 AUTHORIZER_FAILURE; the policy's context reaches requestContext.authorizer.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from localdev.net import LOOPBACK, QuietHTTPServer
from localdev.runtime import InvocationResult
from localdev.template import (
    ACCOUNT_ID,
    API_TYPE,
    DEFAULT_REGION,
    Resolver,
    Template,
    describe_resources,
    functions,
)
from localdev.template.specs import _referenced_id

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
API_ID = "local"

Invoker = Callable[[str, dict[str, Any]], InvocationResult]

# API Gateway's built-in response types this emulator produces: default status and message.
_GATEWAY_DEFAULTS = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "INTEGRATION_FAILURE": (502, "Internal server error"),
    "BAD_REQUEST_BODY": (400, "Invalid request body"),
    "ACCESS_DENIED": (403, "User is not authorized to access this resource with an explicit deny"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "AUTHORIZER_FAILURE": (500, "Internal server error"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "Internal server error"),
}
DEFAULT_AUTHORIZER_TTL = 300
# The methods a REST API resource can have; ANY stands for these, and any other (TRACE, QUERY...)
# matches no method, so API Gateway answers it as an unknown route.
API_GATEWAY_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})

_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|xml|javascript|x-www-form-urlencoded|graphql|.*\+json|.*\+xml))", re.IGNORECASE
)


# ---------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    function: str
    path: str  # the resource path template, e.g. /api/alerts/{id}/ack
    method: str  # upper case, or "ANY"
    authorizer: str | None = None  # the name of the Lambda authorizer in front of it

    @property
    def segments(self) -> list[str]:
        return [segment for segment in self.path.strip("/").split("/") if segment]


def routes_from_template(template: Template) -> list[Route]:
    """One Route per Api event of every function in the template, with its authorizer (if any)."""
    _, default = authorizers_from_template(template)
    routes = []
    for spec in functions(template):
        for event in spec.api_events:
            chosen = event.authorizer if event.authorizer is not None else default
            routes.append(
                Route(
                    function=spec.logical_id,
                    path="/" + event.path.strip("/"),
                    method=event.method.upper(),
                    authorizer=None if chosen in (None, "NONE", "AWS_IAM") else str(chosen),
                )
            )
    return routes


# ---------------------------------------------------------------------------
# Lambda REQUEST authorizers
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Authorizer:
    name: str
    function: str  # logical id of the authorizer function
    context: tuple[str, ...] = ()  # Identity.Context, e.g. identity.sourceIp
    headers: tuple[str, ...] = ()  # Identity.Headers
    query_strings: tuple[str, ...] = ()  # Identity.QueryStrings
    ttl: int = DEFAULT_AUTHORIZER_TTL  # Identity.ReauthorizeEvery

    def identity(self, event: Mapping[str, Any]) -> tuple[str, ...] | None:
        """The identity source values of a request, or None when one is missing (API Gateway: 401)."""
        values: list[str] = []
        for path in self.context:
            node: Any = event.get("requestContext") or {}
            for part in path.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            values.append(str(node) if node not in (None, "") else "")
        headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        values += [str(headers.get(name.lower()) or "") for name in self.headers]
        query = event.get("queryStringParameters") or {}
        values += [str(query.get(name) or "") for name in self.query_strings]
        return None if any(not value for value in values) else tuple(values)


def authorizers_from_template(template: Template) -> tuple[dict[str, Authorizer], str | None]:
    """The REST API's Lambda REQUEST authorizers and its DefaultAuthorizer."""
    apis = [r for r in template.get("Resources", {}).values() if r.get("Type") == API_TYPE]
    auth = ((apis[0].get("Properties") or {}).get("Auth") or {}) if apis else {}
    found: dict[str, Authorizer] = {}
    for name, spec in (auth.get("Authorizers") or {}).items():
        function = _referenced_id(spec.get("FunctionArn"))
        if not function or str(spec.get("FunctionPayloadType", "TOKEN")).upper() != "REQUEST":
            continue  # TOKEN and Cognito authorizers are not emulated
        identity = spec.get("Identity") or {}
        found[name] = Authorizer(
            name=name,
            function=function,
            context=tuple(identity.get("Context") or ()),
            headers=tuple(identity.get("Headers") or ()),
            query_strings=tuple(identity.get("QueryStrings") or ()),
            ttl=int(identity.get("ReauthorizeEvery", DEFAULT_AUTHORIZER_TTL)),
        )
    default = auth.get("DefaultAuthorizer")
    return found, str(default) if default else None


def method_arn(stage: str, method: str, path: str, region: str = DEFAULT_REGION) -> str:
    return f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{API_ID}/{stage}/{method}{path}"


def _arn_matches(pattern: str, arn: str) -> bool:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, arn) is not None


def policy_allows(policy: Any, arn: str) -> bool:
    """IAM evaluation of an authorizer's policy for one method ARN: an explicit Deny wins, else an Allow is needed."""
    statements = (policy or {}).get("Statement") if isinstance(policy, Mapping) else None
    if isinstance(statements, Mapping):
        statements = [statements]
    allowed = False
    for statement in statements or []:
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if not any(action in ("*", "execute-api:*", "execute-api:Invoke") for action in actions):
            continue
        if not any(_arn_matches(str(resource), arn) for resource in resources):
            continue
        if str(statement.get("Effect")).lower() == "deny":
            return False
        allowed = allowed or str(statement.get("Effect")).lower() == "allow"
    return allowed


@dataclass(frozen=True)
class AuthorizerAnswer:
    policy: Any
    principal: str
    context: dict[str, Any]


class AuthorizerError(Exception):
    def __init__(self, response_type: str, detail: str) -> None:
        super().__init__(detail)
        self.response_type = response_type


def authorizer_event(event: Mapping[str, Any], arn: str) -> dict[str, Any]:
    """The REQUEST authorizer's event: the request without its body, plus type and methodArn."""
    keys = (
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
    )
    return {"type": "REQUEST", "methodArn": arn, **{key: event.get(key) for key in keys}}


def authorizer_answer(result: InvocationResult) -> AuthorizerAnswer:
    if result.error is not None:
        if result.error.get("errorMessage") == "Unauthorized":
            raise AuthorizerError("UNAUTHORIZED", "the authorizer answered Unauthorized")
        raise AuthorizerError(
            "AUTHORIZER_FAILURE", f"{result.error.get('errorType')}: {result.error.get('errorMessage')}"
        )
    payload = result.payload
    if not isinstance(payload, Mapping) or not isinstance(payload.get("policyDocument"), Mapping):
        raise AuthorizerError("AUTHORIZER_CONFIGURATION_ERROR", "the authorizer returned no policyDocument")
    context = payload.get("context") or {}
    if not isinstance(context, Mapping) or any(isinstance(v, dict | list) for v in context.values()):
        raise AuthorizerError("AUTHORIZER_CONFIGURATION_ERROR", "context values must be strings, numbers or booleans")
    return AuthorizerAnswer(payload["policyDocument"], str(payload.get("principalId") or ""), dict(context))


class AuthorizerCache:
    """API Gateway's authorizer cache: the answer per authorizer and identity values, for its TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, AuthorizerAnswer]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, tuple[str, ...]]) -> AuthorizerAnswer | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self.clock():
                self._entries.pop(key, None)
                return None
            return entry[1]

    def put(self, key: tuple[str, tuple[str, ...]], answer: AuthorizerAnswer, ttl: int) -> None:
        if ttl > 0:
            with self._lock:
                self._entries[key] = (self.clock() + ttl, answer)


def _match_segments(pattern: list[str], parts: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    """Per-segment specificity (0 literal, 1 {param}, 2 {greedy+}) and the captured parameters."""
    score: list[int] = []
    params: dict[str, str] = {}
    for index, segment in enumerate(pattern):
        if segment.startswith("{") and segment.endswith("+}"):
            rest = parts[index:]
            if not rest:
                return None
            params[segment[1:-2]] = "/".join(rest)
            score.append(2)
            return tuple(score), params
        if index >= len(parts):
            return None
        if segment.startswith("{") and segment.endswith("}"):
            params[segment[1:-1]] = parts[index]
            score.append(1)
        elif segment == parts[index]:
            score.append(0)
        else:
            return None
    if len(parts) != len(pattern):
        return None
    return tuple(score), params


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route API Gateway would pick: the most specific resource, then its method (or ANY)."""
        parts = [part for part in path.split("/") if part]
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for route in self.routes:
            matched = _match_segments(route.segments, parts)
            if matched is not None and (best is None or matched[0] < best[0]):
                best = (matched[0], route.path, matched[1])
        if best is None:
            return None
        _, resource, params = best
        candidates = [route for route in self.routes if route.path == resource]
        wanted_methods = (method.upper(), "ANY") if method.upper() in API_GATEWAY_METHODS else ()
        for wanted in wanted_methods:
            for route in candidates:
                if route.method == wanted:
                    return route, params
        return None


# ---------------------------------------------------------------------------
# Events and responses
# ---------------------------------------------------------------------------


def is_text(content_type: str | None, body: bytes, binary_media_types: Sequence[str] = ()) -> bool:
    """Whether the body goes to the function as text (else base64 with isBase64Encoded)."""
    media = (content_type or "").split(";")[0].strip().lower()
    for pattern in binary_media_types:
        if media and re.fullmatch(re.escape(pattern.lower()).replace(r"\*", ".*"), media):
            return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not media or bool(_TEXT_TYPES.match(media))


def build_event(
    route: Route,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    stage: str = "dev",
    path_parameters: Mapping[str, str] | None = None,
    binary_media_types: Sequence[str] = (),
    request_id: str | None = None,
    server_port: int = 3000,
) -> dict[str, Any]:
    """The Lambda proxy integration event API Gateway (REST, v1) sends for this request."""
    now = time.time()
    request_id = request_id or str(uuid.uuid4())
    trace_id = f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"
    merged: dict[str, list[str]] = {}
    for name, value in headers:
        key = next((existing for existing in merged if existing.lower() == name.lower()), name)
        merged.setdefault(key, []).append(value)
    # API Gateway appends the caller's address to whatever X-Forwarded-For the client sent.
    forwarded = _pop_header(merged, "X-Forwarded-For")
    merged["X-Forwarded-For"] = [", ".join([*forwarded, source_ip])]
    merged.setdefault("X-Forwarded-Port", [str(server_port)])
    merged.setdefault("X-Forwarded-Proto", ["http"])
    merged["X-Amzn-Trace-Id"] = [trace_id]
    single = {name: values[-1] for name, values in merged.items()}

    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)

    content_type = next((value for name, value in single.items() if name.lower() == "content-type"), None)
    text = is_text(content_type, body, binary_media_types)
    event_body = None if not body else body.decode("utf-8") if text else base64.b64encode(body).decode()
    user_agent = next((value for name, value in single.items() if name.lower() == "user-agent"), None)
    host = next((value for name, value in single.items() if name.lower() == "host"), f"{LOOPBACK}:{server_port}")
    return {
        "resource": route.path,
        "path": raw_path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": merged,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": f"/{stage}{raw_path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, route.path).hex[:6],
            "resourcePath": route.path,
            "stage": stage,
        },
        "body": event_body,
        "isBase64Encoded": bool(body) and not text,
    }


def _pop_header(headers: dict[str, list[str]], name: str) -> list[str]:
    for key in list(headers):
        if key.lower() == name.lower():
            return headers.pop(key)
    return []


class MalformedResponseError(ValueError):
    """The function's answer is not a valid Lambda proxy response (API Gateway answers 502)."""


def _response_headers(payload: dict[str, Any]) -> dict[str, list[str]]:
    multi = payload.get("multiValueHeaders") or {}
    single = payload.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        raise MalformedResponseError("headers must be objects")
    headers: dict[str, list[str]] = {}
    for name, values in multi.items():
        headers[str(name)] = [str(value) for value in (values if isinstance(values, list) else [values])]
    for name, value in single.items():
        # Both given: multiValueHeaders wins for a name it also sets (API Gateway's merge rule).
        headers.setdefault(str(name), [str(value)])
    return headers


def _response_body(payload: dict[str, Any]) -> bytes:
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        raise MalformedResponseError("body must be a string")
    if payload.get("isBase64Encoded") and body:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise MalformedResponseError("body is not valid base64") from None
    return (body or "").encode("utf-8")


def proxy_response(payload: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """statusCode, headers and body from a Lambda proxy integration response."""
    if not isinstance(payload, dict):
        raise MalformedResponseError("the function did not return an object")
    try:
        status = int(payload["statusCode"])
    except (KeyError, TypeError, ValueError):
        raise MalformedResponseError("statusCode missing or not a number") from None
    if not 100 <= status <= 599:
        raise MalformedResponseError(f"statusCode {status} out of range")
    headers = _response_headers(payload)
    data = _response_body(payload)
    pairs = [(name, value) for name, values in headers.items() for value in values]
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.append(("Content-Type", "application/json"))  # API Gateway's default
    return status, pairs, data


# ---------------------------------------------------------------------------
# Gateway responses
# ---------------------------------------------------------------------------


class GatewayResponses:
    """API Gateway's own error answers, customised by the template's GatewayResponses like in AWS."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config or {})

    @classmethod
    def from_template(cls, template: Template) -> GatewayResponses:
        apis = [r for r in template.get("Resources", {}).values() if r.get("Type") == API_TYPE]
        if not apis:
            return cls()
        resolver = Resolver(template, describe_resources(template))
        return cls(resolver.resolve((apis[0].get("Properties") or {}).get("GatewayResponses") or {}))

    def render(
        self, response_type: str, request_id: str, message: str | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        status, default_message = _GATEWAY_DEFAULTS.get(response_type, (500, "Internal server error"))
        message = message or default_message
        family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        specific = self.config.get(response_type) or {}
        fallback = self.config.get(family) or {}
        status = int(specific.get("StatusCode") or fallback.get("StatusCode") or status)
        templates = specific.get("ResponseTemplates") or fallback.get("ResponseTemplates") or {}
        template = templates.get("application/json")
        if template:
            values = {
                "context.error.responseType": response_type,
                "context.error.messageString": json.dumps(message),
                "context.error.message": message,
                "context.requestId": request_id,
                "context.extendedRequestId": request_id,
            }
            # VTL references: $context.a.b, ${context.a.b} and the quiet forms $!context... / $!{context...}
            body = re.sub(
                r"\$!?(?:\{(context(?:\.\w+)+)\}|(context(?:\.\w+)+))",
                lambda match: values.get(match.group(1) or match.group(2), ""),
                str(template),
            ).encode()
        else:
            body = json.dumps({"error": {"code": response_type, "message": message}}).encode()
        headers = [("Content-Type", "application/json")]
        parameters = (specific.get("ResponseParameters") or fallback.get("ResponseParameters") or {}).get(
            "Headers"
        ) or {}
        headers += [(name, str(value).strip("'")) for name, value in parameters.items()]
        return status, headers, body


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


def _default_log(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class ApiGateway:
    """The local REST API: routes requests to functions through `invoke(function, event)`."""

    def __init__(
        self,
        routes: Iterable[Route],
        invoke: Invoker,
        *,
        host: str = LOOPBACK,
        port: int = 3000,
        stage: str = "dev",
        gateway_responses: GatewayResponses | None = None,
        binary_media_types: Sequence[str] = (),
        log: Callable[[str], None] | None = None,
        authorizers: Mapping[str, Authorizer] | None = None,
        authorizer_cache: AuthorizerCache | None = None,
    ) -> None:
        self.router = Router(routes)
        self.authorizers = dict(authorizers or {})
        self.authorizer_cache = authorizer_cache or AuthorizerCache()
        self.invoke = invoke
        self.stage = stage
        self.gateway_responses = gateway_responses or GatewayResponses()
        self.binary_media_types = list(binary_media_types)
        self.log = log or _default_log
        gateway = self

        class Handler(_ApiHandler):
            api = gateway

        self._server = QuietHTTPServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    @classmethod
    def from_template(cls, template: Template, invoke: Invoker, **kwargs: Any) -> ApiGateway:
        apis = [r for r in template.get("Resources", {}).values() if r.get("Type") == API_TYPE]
        props = (apis[0].get("Properties") or {}) if apis else {}
        resolver = Resolver(template, describe_resources(template))
        kwargs.setdefault("stage", str(resolver.resolve(props.get("StageName", "dev"))))
        kwargs.setdefault(
            "binary_media_types", [str(t).replace("~1", "/") for t in props.get("BinaryMediaTypes") or []]
        )
        kwargs.setdefault("gateway_responses", GatewayResponses.from_template(template))
        if "authorizers" not in kwargs:
            # An authorizer whose function is not running (a stack started with only=...) is left out,
            # and the routes behind it are open: said once at start.
            available = kwargs.pop("available_functions", None)
            authorizers, _ = authorizers_from_template(template)
            kwargs["authorizers"] = {
                name: spec for name, spec in authorizers.items() if available is None or spec.function in available
            }
            log = kwargs.get("log") or _default_log
            for name in sorted(set(authorizers) - set(kwargs["authorizers"])):
                log(f"note: authorizer {name} ({authorizers[name].function}) is not running; its routes are open")
        kwargs.pop("available_functions", None)
        return cls(routes_from_template(template), invoke, **kwargs)

    def authorize(self, route: Route, event: dict[str, Any]) -> AuthorizerAnswer | None:
        """Run the route's authorizer (or use its cached answer); raises AuthorizerError to refuse."""
        spec = self.authorizers.get(route.authorizer or "")
        if spec is None:
            return None
        identity = spec.identity(event)
        if identity is None:
            raise AuthorizerError("UNAUTHORIZED", "an identity source is missing")
        arn = method_arn(self.stage, str(event["httpMethod"]), str(event["path"]))
        key = (spec.name, identity)
        answer = self.authorizer_cache.get(key)
        if answer is None:
            try:
                result = self.invoke(spec.function, authorizer_event(event, arn))
            except Exception as error:
                raise AuthorizerError("AUTHORIZER_FAILURE", f"invoke failed: {error}") from None
            answer = authorizer_answer(result)
            self.authorizer_cache.put(key, answer, spec.ttl)
        if not policy_allows(answer.policy, arn):
            raise AuthorizerError("ACCESS_DENIED", f"{spec.name} denied {arn}")
        return answer

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]!s}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ApiGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ApiHandler(BaseHTTPRequestHandler):
    api: ApiGateway
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "localdev-apigateway"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is written by _handle

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY...) gets API Gateway's answer too, not http.server's HTML 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over API Gateway's 10 MB limit (then discarded)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, size = [], 0
            while True:
                length = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = self.rfile.read(length)
                self.rfile.readline()
                size += length
                if size <= MAX_REQUEST_BYTES:
                    chunks.append(chunk)
            return b"".join(chunks) if size <= MAX_REQUEST_BYTES else None
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            remaining = length
            while remaining > 0:  # read it off the socket so the client sees our answer, not a reset
                data = self.rfile.read(min(remaining, 1 << 20))
                if not data:
                    break
                remaining -= len(data)
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: Sequence[tuple[str, str]], body: bytes, request_id: str) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("x-amzn-RequestId", request_id)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        source_ip = str(self.client_address[0])
        raw_path, _, query = self.path.partition("?")
        if len(raw_path) > 1:
            raw_path = raw_path.rstrip("/") or "/"
        body = self._read_body()
        api = self.api
        note = ""
        if body is None:
            status, headers, data = api.gateway_responses.render("REQUEST_TOO_LARGE", request_id)
            self.close_connection = True
            function = "-"
        else:
            resolved = api.router.resolve(self.command, raw_path)
            if resolved is None:
                status, headers, data = api.gateway_responses.render("MISSING_AUTHENTICATION_TOKEN", request_id)
                function = "-"
            else:
                route, params = resolved
                function = route.function
                event = build_event(
                    route,
                    method=self.command,
                    raw_path=raw_path,
                    query=query,
                    headers=list(self.headers.items()),
                    body=body,
                    source_ip=source_ip,
                    stage=api.stage,
                    path_parameters=params,
                    binary_media_types=api.binary_media_types,
                    request_id=request_id,
                    server_port=api.port,
                )
                try:
                    answer = api.authorize(route, event)
                except AuthorizerError as refused:
                    status, headers, data = api.gateway_responses.render(refused.response_type, request_id)
                    note = f" [{refused.response_type}: {refused}]"
                else:
                    if answer is not None:
                        event["requestContext"]["authorizer"] = {**answer.context, "principalId": answer.principal}
                    status, headers, data, note = self._invoke(route, event, request_id)
        elapsed = (time.monotonic() - started) * 1000
        # Logged before the answer goes out, so whoever got the answer finds the line (tests read it).
        api.log(f"{source_ip} {self.command} {self.path} -> {status} {function} {elapsed:.0f} ms{note}")
        self._send(status, headers, data, request_id)

    def _invoke(
        self, route: Route, event: dict[str, Any], request_id: str
    ) -> tuple[int, list[tuple[str, str]], bytes, str]:
        api = self.api
        try:
            result = api.invoke(route.function, event)
        except Exception as error:  # any local failure is API Gateway's 502
            status, headers, data = api.gateway_responses.render("INTEGRATION_FAILURE", request_id)
            return status, headers, data, f" (invoke failed: {error})"
        note = f" (cold start, init {result.init_duration_ms:.0f} ms)" if result.init_duration_ms is not None else ""
        if result.error is not None:
            status, headers, data = api.gateway_responses.render("INTEGRATION_FAILURE", request_id)
            detail = result.error.get("errorMessage") or ""
            return status, headers, data, f"{note} [{result.error.get('errorType')}: {detail}]"
        try:
            status, headers, data = proxy_response(result.payload)
        except MalformedResponseError as error:
            status, headers, data = api.gateway_responses.render("INTEGRATION_FAILURE", request_id)
            return status, headers, data, f"{note} [malformed Lambda proxy response: {error}]"
        return status, headers, data, note
