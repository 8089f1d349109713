"""`make sam-local`'s pure logic: which function an event belongs to, how SAM's output is judged,
the env-vars file and the template SAM reads it with, the OCI runtime's spec rewrite (no servers,
no engine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localdev import oci_runtime, sam_engine, sam_local
from localdev.stack import PROJECT_ROOT
from localdev.template import load_template

TEMPLATE = load_template(PROJECT_ROOT / "template.yaml")
EVENTS = PROJECT_ROOT / "events"


# -- events -> functions --------------------------------------------------------------------------


def test_every_sample_event_belongs_to_a_function_and_has_an_expectation() -> None:
    found = sam_local.cases(TEMPLATE, EVENTS)
    assert {case.event.name for case in found} == {path.name for path in EVENTS.glob("*.json")}
    assert [case.event.name for case in found if case.function is None] == []
    assert {case.event.name for case in found} == set(sam_local.EXPECTATIONS)


@pytest.mark.parametrize(
    ("event", "function"),
    [
        ("health.json", "HealthFunction"),
        ("health_live.json", "HealthFunction"),
        ("health_ready.json", "HealthFunction"),
        ("metrics.json", "MetricsFunction"),
        ("alerts_ack.json", "AlertsApiFunction"),
        ("alerts_silence.json", "AlertsApiFunction"),
        ("stripe_webhook_unknown_type.json", "StripeWebhookFunction"),
        ("ip_guard_request.json", "IpGuardFunction"),
        ("webhook_processor_batch.json", "WebhookProcessorFunction"),
        ("security_events_sqs.json", "SecurityEventsProcessorFunction"),
        ("alert_dispatcher.json", "AlertDispatcherFunction"),
        ("scheduled_checks.json", "ScheduledChecksFunction"),
        ("reports_weekly_security.json", "ReportsFunction"),
        ("waf_ip_set_updater.json", "WafIpSetUpdaterFunction"),
    ],
)
def test_an_event_belongs_to_the_function_its_route_queue_topic_or_schedule_names(event: str, function: str) -> None:
    assert sam_local.owner_of(TEMPLATE, json.loads((EVENTS / event).read_text())) == function


def test_an_event_of_no_route_belongs_to_no_function() -> None:
    assert sam_local.owner_of(TEMPLATE, {"httpMethod": "GET", "resource": "/nowhere"}) is None
    assert sam_local.owner_of(TEMPLATE, {"Records": [{"eventSource": "aws:sqs", "eventSourceARN": "x:Other"}]}) is None


# -- judging what SAM printed ---------------------------------------------------------------------


def proxy(status: int, body: Any) -> str:
    return json.dumps({"statusCode": status, "body": json.dumps(body)})


HEALTHY = {"status": "healthy", "checks": [{"name": name} for name in sam_local.HEALTH_CHECKS]}


def test_the_answer_is_the_last_json_line_of_sams_stdout() -> None:
    assert sam_local.sam_answer('Building image...\n{"a": 1}\n\n') == {"a": 1}
    assert sam_local.sam_answer("no json here\n") is None
    assert sam_local.sam_answer("null") is None


def test_an_expected_answer_passes() -> None:
    verdict = sam_local.judge("health.json", {}, "log line\n" + proxy(200, HEALTHY))
    assert verdict.ok, verdict.answer
    assert verdict.answer == "200 {checks, status}"


@pytest.mark.parametrize(
    ("stdout", "reason"),
    [
        ("", "no answer"),
        ('{"errorType": "ConfigurationError", "errorMessage": "DB_HOST is not set"}', "ConfigurationError"),
        (proxy(503, HEALTHY), "status 503, expected 200"),
        (proxy(200, {**HEALTHY, "status": "degraded"}), "expected {'status': 'healthy'}"),
        (proxy(200, {**HEALTHY, "checks": []}), "checks []"),
    ],
)
def test_a_function_error_or_an_unexpected_answer_fails(stdout: str, reason: str) -> None:
    # SAM exits 0 for all of these: only its output tells.
    verdict = sam_local.judge("health.json", {}, stdout)
    assert not verdict.ok
    assert reason in verdict.answer


def test_readiness_in_the_drafts_format_must_pass_with_the_four_dependency_checks() -> None:
    ready = {"status": "pass", "checks": {key: [{"status": "pass"}] for key in sam_local.DEPENDENCY_CHECKS}}
    assert sam_local.judge("health_ready.json", {}, proxy(200, ready)).ok
    with_disk = {**ready, "checks": {**ready["checks"], "disk:utilization": [{"status": "pass"}]}}
    assert "checks [" in sam_local.judge("health_ready.json", {}, proxy(200, with_disk)).answer
    assert "expected {'status': 'pass'}" in sam_local.judge("health_ready.json", {}, proxy(200, HEALTHY)).answer


def test_an_event_without_expectation_fails() -> None:
    verdict = sam_local.judge("new_sample.json", {}, proxy(200, {}))
    assert not verdict.ok
    assert "no expectation" in verdict.answer


def test_a_batch_answer_must_name_exactly_the_poison_message() -> None:
    batch = json.loads((EVENTS / "webhook_processor_batch.json").read_text())
    poison = [r["messageId"] for r in batch["Records"] if not r["body"].startswith("{\n")]
    assert len(poison) == 1
    right = json.dumps({"batchItemFailures": [{"itemIdentifier": poison[0]}]})
    assert sam_local.judge("webhook_processor_batch.json", batch, right).ok
    assert not sam_local.judge("webhook_processor_batch.json", batch, '{"batchItemFailures": []}').ok


# -- the env-vars file and the template SAM reads it with ------------------------------------------


def test_the_env_vars_file_leaves_out_what_sam_sets_itself() -> None:
    values = sam_local.env_vars({"HealthFunction": {"AWS_LAMBDA_FUNCTION_NAME": "x", "REDIS_URL": "redis://r"}})
    assert values == {"HealthFunction": {"REDIS_URL": "redis://r"}}


def test_the_sam_template_declares_what_the_template_does_not(tmp_path: Path) -> None:
    built = {
        "Globals": {"Function": {"Environment": {"Variables": {"REDIS_URL": "redis://deployed"}}}},
        "Resources": {
            "HealthFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "HealthFunction", "Environment": {"Variables": {"SECRET": "s"}}},
            },
            "SharedLayer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "SharedLayer"}},
        },
    }
    values = {"HealthFunction": {"REDIS_URL": "redis://local", "SECRET": "x", "AWS_ENDPOINT_URL": "http://moto"}}
    template = sam_local.sam_template(built, tmp_path, values)
    health = template["Resources"]["HealthFunction"]["Properties"]
    # only the undeclared variable is added (SAM drops an env-vars value the template does not declare)
    assert health["Environment"]["Variables"] == {"SECRET": "s", "AWS_ENDPOINT_URL": ""}
    assert health["CodeUri"] == str(tmp_path / "HealthFunction")
    assert template["Resources"]["SharedLayer"]["Properties"]["ContentUri"] == str(tmp_path / "SharedLayer")
    assert built["Resources"]["HealthFunction"]["Properties"]["CodeUri"] == "HealthFunction"  # a copy


def test_the_sam_template_gives_a_cold_container_time_to_import(tmp_path: Path) -> None:
    built = {
        "Globals": {"Function": {"Timeout": 10}},
        "Resources": {
            "IpGuardFunction": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "a", "Timeout": 3}},
            "HealthFunction": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "b"}},
            "ReportsFunction": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "c", "Timeout": 300}},
        },
    }
    resources = sam_local.sam_template(built, tmp_path, {})["Resources"]
    timeouts = {name: resource["Properties"]["Timeout"] for name, resource in resources.items()}
    # SAM's emulator counts init inside the timeout; Lambda does not. A longer timeout stays as it is.
    minimum = sam_local.LOCAL_MIN_TIMEOUT
    assert timeouts == {"IpGuardFunction": minimum, "HealthFunction": minimum, "ReportsFunction": 300}
    assert built["Resources"]["IpGuardFunction"]["Properties"]["Timeout"] == 3  # a copy


def test_the_env_vars_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sam" / "env.json"
    sam_local.write_private(path, {"HealthFunction": {"HEALTH_CHECK_SECRET": "s"}})
    sam_local.write_private(path, {"HealthFunction": {"HEALTH_CHECK_SECRET": "t"}})
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {"HealthFunction": {"HEALTH_CHECK_SECRET": "t"}}


def test_the_local_env_files_are_ignored_by_git() -> None:
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert ".local/" in ignored  # .local/sam/env.json holds the local secrets


# -- start-api ------------------------------------------------------------------------------------


def test_start_api_asks_every_route_once_at_least() -> None:
    requests = sam_local.api_requests(TEMPLATE, {"ALERTS_API_SECRET": "s", "ALERTS_ADMIN_SECRET": "a"})
    guarded = [r for r in requests if r.status == 401 and not r.headers]
    assert {r.path for r in guarded} >= {"/api/health", "/api/metrics", "/api/webhooks/stripe", "/api/events"}
    behind_ipguard = [r for r in guarded if not r.path.startswith("/api/security/")]
    assert all(r.check and r.check(sam_local.SAM_UNAUTHORIZED) is None for r in behind_ipguard)
    blocks = [r for r in requests if r.path.startswith("/api/security/blocks/")]
    assert [r.method for r in blocks] == ["GET", "PUT", "PUT", "GET", "DELETE", "GET"]
    # Blocking and unblocking carry the admin secret; the read secret is refused (401).
    assert [dict(r.headers).get("X-Alerts-Admin-Secret") for r in blocks if r.status == 200 and r.method != "GET"] == [
        "a",
        "a",
    ]


# -- the OCI runtime wrapper ----------------------------------------------------------------------

RUNC_CREATE = [
    "--root", "/var/run/docker/runtime-runc/moby", "--log", "/run/x/log.json", "--log-format", "json",
    "create", "--bundle", "/run/x/bundle", "--pid-file", "/run/x/init.pid", "abc123",
]  # fmt: skip


def test_the_wrapper_reads_bundle_and_id_of_a_create_call() -> None:
    call = oci_runtime.parse_create(RUNC_CREATE)
    assert call is not None
    assert (call.command, call.bundle, call.container_id) == ("create", Path("/run/x/bundle"), "abc123")
    assert oci_runtime.parse_create(["--root", "/r", "start", "abc123"]) is None
    assert oci_runtime.parse_create(["--root", "/r", "delete", "--force", "abc123"]) is None


def emulator_spec() -> dict[str, Any]:
    return {
        "process": {"args": ["/var/rapid/aws-lambda-rie", "--log-level", "error"]},
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}],
            "sysctl": {"net.ipv4.ip_unprivileged_port_start": "0", "kernel.shmmax": "1"},
        },
    }


def test_an_emulator_container_joins_the_host_loopback_on_the_published_port() -> None:
    hostconfig = {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5123"}]}}
    address = oci_runtime.published_address(hostconfig)
    assert address == ("127.0.0.1", 5123)
    spec = emulator_spec()
    rewritten = oci_runtime.rewrite_spec(spec, address, 9123)
    assert rewritten["linux"]["namespaces"] == [{"type": "pid"}, {"type": "mount"}]
    assert rewritten["linux"]["sysctl"] == {"kernel.shmmax": "1"}
    assert rewritten["process"]["args"] == [
        "/var/rapid/aws-lambda-rie",
        "--runtime-interface-emulator-address",
        "127.0.0.1:5123",
        "--runtime-api-address",
        "127.0.0.1:9123",
        "--log-level",
        "error",
    ]
    assert spec == emulator_spec()  # the original is left alone


def test_other_containers_pass_to_runc_untouched(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    build_step = {"process": {"args": ["/bin/sh", "-c", "mv /var/rapid/x /var/rapid/aws-lambda-rie"]}, "linux": {}}
    (bundle / "config.json").write_text(json.dumps(build_step))
    call = oci_runtime.CreateCall("create", bundle, "abc")
    assert not oci_runtime.prepare(call, tmp_path / "docker")
    assert json.loads((bundle / "config.json").read_text()) == build_step


def test_the_wrapper_rewrites_an_emulator_bundle_from_its_hostconfig(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(emulator_spec()))
    container = tmp_path / "docker" / "containers" / "abc"
    container.mkdir(parents=True)
    (container / "hostconfig.json").write_text(
        json.dumps({"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "6001"}]}})
    )
    assert oci_runtime.prepare(oci_runtime.CreateCall("create", bundle, "abc"), tmp_path / "docker")
    args = json.loads((bundle / "config.json").read_text())["process"]["args"]
    assert args[1:3] == ["--runtime-interface-emulator-address", "127.0.0.1:6001"]


def test_the_wrapper_takes_its_own_options_first() -> None:
    runc, data_root, rest = oci_runtime.split_own_options(
        ["--runc", "/usr/sbin/runc", "--data-root", "/d", "state", "x"]
    )
    assert (runc, data_root, rest) == ("/usr/sbin/runc", Path("/d"), ["state", "x"])


# -- the engine -----------------------------------------------------------------------------------


def test_dockerd_gets_no_network_of_its_own() -> None:
    command = sam_engine.dockerd_command(Path("/c.json"), Path("/run/s.sock"), Path("/run/d.pid"))
    for flag in ("--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false"):
        assert flag in command
    assert "--host=unix:///run/s.sock" in command
    assert not any("bip" in part or "address-pool" in part for part in command)


def test_the_docker_host_names_a_unix_socket_or_none() -> None:
    assert sam_engine.socket_path(None) == sam_engine.DEFAULT_SOCKET
    assert sam_engine.socket_path("unix:///run/askproai-sam/docker.sock") == Path("/run/askproai-sam/docker.sock")
    assert sam_engine.socket_path("tcp://127.0.0.1:2375") is None


def test_the_base_image_gets_the_runtime_pins_and_a_bootstrap(tmp_path: Path) -> None:
    requirements = sam_engine.runtime_requirements(PROJECT_ROOT)
    assert "awslambdaric==4.2.2" in requirements
    assert any(r.startswith("boto3==") for r in requirements)
    assert any(r.startswith("async-timeout==") for r in requirements)
    command = sam_engine.mmdebstrap_command(tmp_path / "r.tar", tmp_path / "bootstrap", "/py", requirements)
    assert command[:2] == ["mmdebstrap", "--variant=essential"]
    assert "--include=python3,ca-certificates,libstdc++6" in command
    assert command[-2:] == ["bookworm", str(tmp_path / "r.tar")]
    assert "${_HANDLER" in sam_engine.BOOTSTRAP
    assert "/var/task:/opt/python" in sam_engine.BOOTSTRAP


def test_the_alerts_samples_run_before_what_may_raise_an_alert() -> None:
    found = sam_local.cases(TEMPLATE, EVENTS)
    first, rest = sam_local.phases(found)
    assert {case.event.name for case in first} == {
        "alerts_ack.json",
        "alerts_list.json",
        "alerts_resolve.json",
        "alerts_silence.json",
    }
    assert "webhook_processor_batch.json" in {case.event.name for case in rest}
