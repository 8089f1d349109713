"""Least privilege, proven on what the suite did: every AWS request a function made against moto in
this session (each function signs with its own access key, localdev/moto_server.py logs them) is
evaluated against that function's role, as SAM expands template.yaml (tests/support/iam.py).

tests/conftest.py runs this file last. A call the role does not allow is AccessDenied in AWS: the
first test fails on it. A grant no call used is a permission the code does not need (or a path no
test exercises): the second test fails on it, when the session ran every end-to-end test file (a
partial run proves nothing about what is unused). The session's calls per function are written to
.local/aws-calls/session.json.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AWS_CALL_LOG
from tests.support import iam

E2E = Path(__file__).resolve().parent
UNUSED_REPORT = AWS_CALL_LOG.with_name("unused-grants.txt")
# Grants whose call no test of the local stack can make, each with the reason: keep this short.
NOT_REACHED_LOCALLY = {
    "AlertDispatcherFunction: sqs:SendMessage on "
    "arn:aws:sqs:us-east-1:123456789012:AlertDispatcherDeadLetterQueue": "SAM's DeadLetterQueue policy: "
    "the Lambda service, not the code, sends the event that failed every attempt (the local stack has no async DLQ)",
    "WebhookProcessorFunction: dynamodb:GetItem on arn:aws:dynamodb:us-east-1:123456789012:table/IdempotencyTable": (
        "Powertools idempotency reads the record only when DynamoDB's conditional put returns no old item; "
        "Powertools lists GetItem among the table's required permissions"
    ),
    "StripeReconciliationFunction: dynamodb:GetItem on arn:aws:dynamodb:us-east-1:123456789012:table/IdempotencyTable": (
        "as WebhookProcessorFunction's: Powertools' fallback read"
    ),
    "StripeReconciliationFunction: dynamodb:DeleteItem on "
    "arn:aws:dynamodb:us-east-1:123456789012:table/IdempotencyTable": "Powertools deletes the in-progress record "
    "when processing an event raises; tests/component/test_stripe_reconciliation.py covers it in process",
    **{
        f"WafIpSetUpdaterFunction: dynamodb:{action} on "
        "arn:aws:dynamodb:us-east-1:123456789012:table/SecurityBlocksTable/stream/local": "the Lambda service reads "
        "the blocks table's stream with the function's role (SAM's DynamoDB event); the local stack has no streams"
        for action in ("DescribeStream", "GetRecords", "GetShardIterator", "ListStreams")
    },
    "StripeReconciliationFunction: dynamodb:PutItem on arn:aws:dynamodb:us-east-1:123456789012:table/AlertWindowsTable": (
        "stripe_events_missed with exactly one missed event writes one item; the stack test misses several"
    ),
}

# Grants a stack test uses only when the wall clock is right: neither required nor stale when unused.
REACHED_BY_THE_CLOCK = {
    "ScheduledChecksFunction: dynamodb:Query on arn:aws:dynamodb:us-east-1:123456789012:table/AlertsTable/index/"
    "episodes-by-type": "the alert-quality gauges, on the runs whose minute divides by 15 "
    "(tests/component/test_alert_quality_moto.py runs them on moto in process)",
    "ScheduledChecksFunction: dynamodb:Query on arn:aws:dynamodb:us-east-1:123456789012:table/AlertDeliveryHistoryTable": (
        "the pages of the alert-quality gauges (every 15 minutes), and a resolved notice during a silence "
        "(tests/component/test_resolved_while_silenced_moto.py)"
    ),
}


@pytest.fixture(scope="module")
def calls() -> list[iam.Call]:
    recorded = iam.read_call_log(AWS_CALL_LOG)
    if not recorded:
        pytest.skip("no function called AWS in this session (run it with the tests that invoke functions)")
    return recorded


@pytest.fixture(scope="module")
def roles() -> dict[str, list[iam.Statement]]:
    return iam.function_roles()


def test_every_call_a_function_made_is_allowed_by_its_role(
    calls: list[iam.Call], roles: dict[str, list[iam.Statement]]
) -> None:
    # Functions of other templates (tests/localdev's samples) sign with their own names: not judged here.
    judged = [call for call in calls if call.function in roles]
    assert judged, "no function of template.yaml called AWS in this session"
    denied = sorted({call.describe() for call in judged if not iam.allowed(roles[call.function], call)})
    assert not denied, "AccessDenied in AWS (function: action on resource):\n  " + "\n  ".join(denied)
    boundaries = iam.function_boundaries()
    outside = sorted(
        {call.describe() for call in judged if not iam.allowed(roles[call.function], call, boundaries[call.function])}
    )
    assert not outside, (
        "AccessDenied in AWS by the permissions boundary (OutsideVpcPermissionsBoundary in template.yaml):\n  "
        + "\n  ".join(outside)
    )


def test_no_role_grants_what_no_test_used(
    calls: list[iam.Call], roles: dict[str, list[iam.Statement]], collected_files: set[str]
) -> None:
    missing = {f"tests/e2e/{path.name}" for path in E2E.glob("test_*.py")} - collected_files
    if missing:
        pytest.skip(f"unused grants are judged on the whole end-to-end suite; not collected: {sorted(missing)}")
    unused = iam.unused_grants(roles, calls)
    UNUSED_REPORT.write_text("".join(f"{line}\n" for line in unused))
    explained = {**NOT_REACHED_LOCALLY, **REACHED_BY_THE_CLOCK}
    unexplained = [line for line in unused if line.rsplit(" (", 1)[0] not in explained]
    assert not unexplained, (
        f"{len(unexplained)} granted, never used by any test (remove the grant, or add the test of the path "
        f"that needs it; also in {UNUSED_REPORT}):\n  " + "\n  ".join(unexplained)
    )
    granted = {line.rsplit(" (", 1)[0] for line in unused}
    stale = sorted(set(NOT_REACHED_LOCALLY) - granted)
    assert not stale, "NOT_REACHED_LOCALLY names grants that are used now, or no longer granted:\n  " + "\n  ".join(
        stale
    )
