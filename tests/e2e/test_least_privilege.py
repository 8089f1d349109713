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
# Zero unused grants is the goal (issue 14); until the roles are trimmed and the ssm:/secretsmanager:
# paths have their end-to-end test, the list is written to UNUSED_REPORT and the test is an xfail
# that names every grant. Set True to make it fail.
UNUSED_GRANTS_FAIL = False


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
    unknown = sorted({call.function for call in calls} - set(roles))
    assert not unknown, f"calls signed by functions the template does not have: {unknown}"
    denied = sorted({call.describe() for call in calls if not iam.allowed(roles[call.function], call)})
    assert not denied, "AccessDenied in AWS (function: action on resource):\n  " + "\n  ".join(denied)


def test_no_role_grants_what_no_test_used(
    calls: list[iam.Call], roles: dict[str, list[iam.Statement]], collected_files: set[str]
) -> None:
    missing = {f"tests/e2e/{path.name}" for path in E2E.glob("test_*.py")} - collected_files
    if missing:
        pytest.skip(f"unused grants are judged on the whole end-to-end suite; not collected: {sorted(missing)}")
    unused = iam.unused_grants(roles, calls)
    UNUSED_REPORT.write_text("".join(f"{line}\n" for line in unused))
    message = (
        f"{len(unused)} granted, never used by any test (remove the grant, or add the test of the path "
        f"that needs it; also in {UNUSED_REPORT}):\n  " + "\n  ".join(unused)
    )
    if unused and not UNUSED_GRANTS_FAIL:
        pytest.xfail(message)
    assert not unused, message
