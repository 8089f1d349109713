"""docs/openapi.yaml, enforced: schemathesis generates requests for every documented operation and
sends them to the whole local stack; no answer may be a 5xx, and every answer must be documented
(status code, content type, headers and body schema).

- Fuzzing (Hypothesis): each case is sent with credentials drawn alongside it: the operation's
  secret in its header, as a bearer token, a wrong secret, or none. On the signed routes
  (POST /api/webhooks/stripe, POST /api/events) the generated body is signed with the stack's
  secret (or a wrong one), so the accepted path (200/202, queued and processed) runs too, not only
  the 400 refusals. Half the cases on {id}/{ip} routes point at an alert, silence or block that
  exists, so their 200 and 409 answers are checked as well as the 404s.
- Coverage: schemathesis's deterministic boundary values, malformed parameters and unexpected
  methods, sent with valid credentials.
- Inputs the fuzzing found, kept as fixed cases; and a last check that every operation answered
  at least one 2xx, so a stack that refused everything cannot pass.

The stack allowlists the loopback range: generated PUT /api/security/blocks/{ip} and signed
failed_login events would otherwise block 127.0.0.1, the address every request comes from.

CONTRACT_MAX_EXAMPLES bounds the fuzzing per operation (25 in `make test`, 500 in `make fuzz`);
CONTRACT_SEED fixes the generation (0 by default, so `make test` sends the same cases every run;
`make fuzz` sets "random" for a new seed each run unless one is given).
"""

from __future__ import annotations

import enum
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from platform_monitoring.observability.store import RedisMetricBackend
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from localdev.stack import LocalStack
from tests.support.functions import ROOT
from tests.support.local_stack import local_stack
from tests.support.mysql import database_environment, drop_database
from tests.support.stripe_events import sign
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

Case = schemathesis.Case[Any]

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "25"))
SEED = os.environ.get("CONTRACT_SEED", "0")  # "random" for a fresh seed each run (make fuzz)

HEALTH_SECRET = "contract-health-secret"
METRICS_SECRET = "contract-metrics-secret"
ALERTS_SECRET = "contract-alerts-secret"
ALERTMANAGER_SECRET = "contract-alertmanager-secret"
ADMIN_SECRET = "contract-alerts-admin-secret"  # silences, blocks, unblocks
EVENTS_SECRET = "contract-events-secret"
STRIPE_WEBHOOK_SECRET = "whsec_contract"
REDIS_URL = "redis://127.0.0.1:6379/1"
DATABASE = "askproai_contract_test"
ALERTS_HEADERS = {"X-Alerts-Secret": ALERTS_SECRET}

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Security scheme -> (header, value) when the case is sent with valid credentials.
API_KEYS = {
    "HealthSecret": ("X-Health-Check-Secret", HEALTH_SECRET),
    "MetricsSecret": ("X-Metrics-Secret", METRICS_SECRET),
    "AlertsSecret": ("X-Alerts-Secret", ALERTS_SECRET),
    "AdminSecret": ("X-Alerts-Admin-Secret", ADMIN_SECRET),
}
SIGNATURES = {
    "StripeSignature": ("Stripe-Signature", STRIPE_WEBHOOK_SECRET),
    "MonitoringSignature": ("X-Monitoring-Signature", EVENTS_SECRET),
}


class Credentials(enum.Enum):
    HEADER = "the operation's secret in its header, or a valid signature"
    BEARER = "Authorization: Bearer <secret> where the document allows it (else as HEADER)"
    WRONG = "a drawn wrong secret in the header, or a signature made with it"
    NONE = "no credentials at all"


@dataclass(frozen=True)
class Sending:
    """How a generated case is sent; Hypothesis draws it along with the case."""

    credentials: Credentials
    wrong_secret: str = ""  # for Credentials.WRONG: printable ASCII, the empty string included
    existing: bool = False  # point the {id} or {ip} at something that exists


SENDINGS = st.builds(
    Sending,
    # Valid credentials twice as often as wrong or missing ones: those all stop at the same check.
    credentials=st.sampled_from([*Credentials, Credentials.HEADER, Credentials.BEARER]),
    wrong_secret=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=64),
    existing=st.booleans(),
)


def contract_config(**phases: Any) -> schemathesis.Config:
    # Credentials are drawn by the test (Credentials); schemathesis's own security headers would be
    # dropped from negative cases even when the test sets them.
    generation: dict[str, Any] = {"max-examples": MAX_EXAMPLES, "with-security-parameters": False}
    config: dict[str, Any] = {"generation": generation, "phases": phases, "request-timeout": 30}
    if SEED != "random":
        config["seed"] = int(SEED)
        generation["deterministic"] = True
    return schemathesis.Config.from_dict(config)


DOCUMENT = ROOT / "docs" / "openapi.yaml"
# Fuzzing: Hypothesis draws the cases (and the credentials, so schemathesis skips its coverage phase here).
schema = schemathesis.openapi.from_path(DOCUMENT, config=contract_config())
# Coverage: schemathesis's deterministic boundary values, unexpected methods and malformed parameters.
coverage_schema = schemathesis.openapi.from_path(DOCUMENT, config=contract_config(fuzzing={"enabled": False}))


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    RedisMetricBackend(redis.Redis.from_url(REDIS_URL)).clear()
    drop_database(mysql_port, DATABASE)  # the stack creates and migrates it
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("ALERT_", "SECURITY_"))},
        "HEALTH_CHECK_SECRET": HEALTH_SECRET,
        "METRICS_SECRET": METRICS_SECRET,
        "ALERTS_API_SECRET": ALERTS_SECRET,
        "ALERTMANAGER_WEBHOOK_SECRET": ALERTMANAGER_SECRET,
        "ALERTS_ADMIN_SECRET": ADMIN_SECRET,
        "EVENTS_SECRET": EVENTS_SECRET,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "SECURITY_ALLOWLIST": "127.0.0.0/8,::1",
        "ALERT_EMAIL_RECIPIENTS": "ops@example.com",
        "ALERT_EMAIL_FROM": "monitoring@example.com",
        "REDIS_URL": REDIS_URL,
        **database_environment(mysql_port, DATABASE),
        "HEALTH_CHECK_TIMEOUT_SECONDS": "2",
    }
    with local_stack(environ=environ, schedules=False) as running:
        yield running


def schemes(case: Case) -> list[str]:
    """The security schemes the operation accepts (each requirement names one here)."""
    requirements: list[dict[str, Any]] = case.operation.definition.raw.get("security", [])
    return [name for requirement in requirements for name in requirement]


def bearer_secret(case: Case) -> str:
    if case.path == "/api/metrics":
        return METRICS_SECRET
    if case.path == "/api/alerts/alertmanager":
        return ALERTMANAGER_SECRET
    return ADMIN_SECRET if "AdminSecret" in schemes(case) else ALERTS_SECRET


def serialized_body(case: Case) -> bytes:
    """The bytes schemathesis would send for the case's body (JSON, or raw bytes in negative cases)."""
    if isinstance(case.body, NotSet):
        return b""
    kwargs = case.as_transport_kwargs()
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode("utf-8")
    data = kwargs.get("data", b"")
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def send(case: Case, stack: LocalStack, sending: Sending) -> Response:
    """Send the case with the drawn credentials; on a signed route the generated body is signed."""
    accepted = schemes(case)
    credentials, wrong_secret = sending.credentials, sending.wrong_secret
    if credentials is Credentials.NONE:
        return case.call(base_url=stack.api_url)
    signature = next((SIGNATURES[name] for name in accepted if name in SIGNATURES), None)
    if signature is not None:
        header, secret = signature
        if credentials is Credentials.WRONG:
            secret = wrong_secret
        body = serialized_body(case)
        # Negative cases can be bytes that are not UTF-8: their signature is then wrong, which is fine
        # since such a body is refused whatever its signature.
        signature_header = sign(body.decode("utf-8", errors="replace"), secret)
        return case.call(base_url=stack.api_url, headers={header: signature_header}, data=body)
    api_keys = [API_KEYS[name] for name in accepted if name in API_KEYS]
    if "BearerAuth" in accepted and (credentials is Credentials.BEARER or not api_keys):  # or bearer only
        secret = wrong_secret if credentials is Credentials.WRONG else bearer_secret(case)
        return case.call(base_url=stack.api_url, headers={"Authorization": f"Bearer {secret}"})
    header, secret = api_keys[0]
    return case.call(
        base_url=stack.api_url, headers={header: wrong_secret if credentials is Credentials.WRONG else secret}
    )


@dataclass
class KnownResources:
    """What exists in the stack, so a share of cases reaches the success path of the {id}/{ip} routes."""

    alert_id: str
    blocked_ip: str


@pytest.fixture(scope="module")
def known(stack: LocalStack) -> KnownResources:
    """Five failed logins from one address: the security_breach_attempt alert fires and the address is blocked."""
    ip = "198.51.100.7"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = json.dumps({"events": [{"type": "failed_login", "ip": ip, "occurred_at": now}] * 5})
    posted = requests.post(
        f"{stack.api_url}/api/events",
        data=body,
        headers={"Content-Type": "application/json", "X-Monitoring-Signature": sign(body, EVENTS_SECRET)},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text

    def fired() -> str:
        answer = requests.get(
            f"{stack.api_url}/api/alerts",
            params={"type": "security_breach_attempt"},
            headers=ALERTS_HEADERS,
            timeout=30,
        ).json()
        return next((str(alert["id"]) for alert in answer["alerts"]), "")

    alert_id = wait_until(fired, timeout=30, message="security_breach_attempt did not fire")
    return KnownResources(alert_id=alert_id, blocked_ip=ip)


def new_silence(stack: LocalStack) -> str:
    answer = requests.post(
        f"{stack.api_url}/api/alerts/silences",
        json={"type": "queue_backlog", "minutes": 5, "reason": "contract test"},
        headers={"X-Alerts-Admin-Secret": ADMIN_SECRET},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    silence_id: str = answer.json()["silence"]["id"]
    return silence_id


def point_at_known_resource(case: Case, stack: LocalStack, known: KnownResources) -> None:
    """Replace the generated {id} or {ip} by one that exists (a fresh silence for DELETE, which removes it)."""
    if case.path == "/api/alerts/silences/{id}":
        case.path_parameters = {"id": new_silence(stack)}
    elif case.path.startswith("/api/alerts/{id}"):
        case.path_parameters = {"id": known.alert_id}
    elif case.path == "/api/security/blocks/{ip}":
        case.path_parameters = {"ip": known.blocked_ip}


# Every status each operation answered in this session; the last test reads it.
ANSWERED: dict[str, set[int]] = defaultdict(set)


def validate(case: Case, response: Response, stack: LocalStack) -> None:
    ANSWERED[case.operation.label].add(response.status_code)
    case.validate_response(response, checks=CHECKS, transport_kwargs={"base_url": stack.api_url})


@schema.parametrize()
@schema.given(sending=SENDINGS)
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: Case, sending: Sending, stack: LocalStack, known: KnownResources
) -> None:
    if sending.existing and case.path_parameters:
        point_at_known_resource(case, stack, known)
    validate(case, send(case, stack, sending), stack)


@coverage_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_boundary_values_and_unexpected_methods_are_answered_as_documented(case: Case, stack: LocalStack) -> None:
    validate(case, send(case, stack, Sending(Credentials.HEADER)), stack)


# Inputs the generators found once (or rarely draw), kept as fixed cases: each was a 500 before its fix.
FOUND_CASES = {
    "a body that is not UTF-8 on a management route": (
        "/api/alerts/{id}/ack",
        "POST",
        {"path_parameters": {"id": "payment_failure"}, "body": b"\xf3w\xe2v\xa0i\n\xcf\xa91"},
    ),
    "a silence of 1e308 minutes": (
        "/api/alerts/silences",
        "POST",
        {"body": {"type": "queue_backlog", "minutes": 1e308}},
    ),
    "a block request that is not UTF-8": (
        "/api/security/blocks/{ip}",
        "PUT",
        {"path_parameters": {"ip": "192.0.2.1"}, "body": b"\xff\xfe"},
    ),
}


@pytest.mark.parametrize("name", FOUND_CASES)
def test_inputs_found_by_fuzzing_stay_answered_as_documented(name: str, stack: LocalStack) -> None:
    path, method, parts = FOUND_CASES[name]
    case = schema[path][method].Case(media_type="application/json", **parts)
    response = send(case, stack, Sending(Credentials.HEADER))
    assert response.status_code == 400
    validate(case, response, stack)


@pytest.mark.parametrize("action", ["ack", "resolve"])
def test_the_known_alert_is_acknowledged_then_resolved(action: str, stack: LocalStack, known: KnownResources) -> None:
    """One request each that must get through, whatever the generated cases drew: with 25 random
    cases an operation may never combine the right secret, an existing alert and an accepted body."""
    case = schema[f"/api/alerts/{{id}}/{action}"]["POST"].Case(
        media_type="application/json", path_parameters={"id": known.alert_id}, body={"by": "contract", "note": action}
    )
    response = send(case, stack, Sending(Credentials.HEADER))
    assert response.status_code in (200, 409), response.text  # 409: a generated case got there first
    validate(case, response, stack)


@pytest.mark.parametrize("accept", ["application/json", "application/health+json"])
@pytest.mark.parametrize("path", ["/api/health", "/api/health/ready", "/api/health/live"])
def test_the_health_routes_answer_both_formats_as_documented(path: str, accept: str, stack: LocalStack) -> None:
    """The generated cases send no Accept of their own: each health route once in each format."""
    case = schema[path]["GET"].Case()
    response = case.call(base_url=stack.api_url, headers={"X-Health-Check-Secret": HEALTH_SECRET, "Accept": accept})
    assert response.status_code in (200, 503), response.text
    assert response.headers["content-type"] == [accept]  # schemathesis: lowercase names, list values
    assert response.headers["vary"] == ["Accept"]
    validate(case, response, stack)


def test_every_operation_answered_a_success_too() -> None:
    """The authenticated and signed cases really got through: each operation run above answered a 2xx."""
    if not ANSWERED:
        pytest.skip("no contract case ran in this session (deselected)")
    paths = yaml.safe_load(DOCUMENT.read_text())["paths"]
    documented = {
        f"{method.upper()} {path}" for path, item in paths.items() for method in item if method != "parameters"
    }
    assert set(ANSWERED) <= documented
    without_success = {
        label: sorted(codes) for label, codes in ANSWERED.items() if not any(200 <= c < 300 for c in codes)
    }
    assert without_success == {}
