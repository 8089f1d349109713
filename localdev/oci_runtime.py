"""The OCI runtime `make sam-local`'s dockerd uses by default: runc, with one change for SAM.

`sam local invoke` (1.170) always publishes the Lambda runtime emulator's port 8080 on a random
loopback port and talks to that. A dockerd started with no bridge network (`--bridge=none`, the
only kind this machine gets: no bridge, no private address range, no iptables) publishes nothing,
so SAM would wait on a port nobody listens on. For containers whose process is the emulator
(`/var/rapid/aws-lambda-rie`), this wrapper rewrites the OCI spec before runc creates them:

- the container joins the host's network namespace (drops its `network` namespace entry and the
  net.* sysctls docker sets for a namespace of its own), so
  127.0.0.1 inside is the host's loopback: the function reaches moto, localstripe, Redis and MySQL
  at the same addresses the local stack gives them;
- the emulator listens on the port docker was asked to publish (read from the container's
  hostconfig.json) with `--runtime-interface-emulator-address 127.0.0.1:<port>`, and its Runtime
  API on a free loopback port (`--runtime-api-address`), since 9001 may be taken by a second one.

Every other container (SAM's image builds, anything else) and every other runc command pass to
runc untouched. Stdlib only: dockerd's shim runs it with whatever interpreter the shell script in
front of it names.

    dockerd --add-runtime ... / daemon.json {"runtimes": {"sam-loopback": {"path": <script>}}}
    <script>: exec python3 -m localdev.oci_runtime --runc /usr/sbin/runc --data-root /var/lib/docker "$@"
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EMULATOR = "/var/rapid/aws-lambda-rie"
EMULATOR_PORT = "8080/tcp"
# runc's global options that take a value (`runc --root X --log Y create ...`).
_GLOBAL_WITH_VALUE = {"--root", "--log", "--log-format", "--criu", "--rootless"}
_CREATE_WITH_VALUE = {"--bundle", "-b", "--console-socket", "--pid-file", "--preserve-fds"}


class CreateCall:
    """What a `runc [global options] create|run [options] <id>` call names."""

    def __init__(self, command: str, bundle: Path, container_id: str) -> None:
        self.command = command
        self.bundle = bundle
        self.container_id = container_id


def parse_create(argv: Sequence[str]) -> CreateCall | None:
    """The bundle and container id of a create/run call; None for any other runc command."""
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        flag = argv[index].split("=", 1)[0]
        index += 2 if flag in _GLOBAL_WITH_VALUE and "=" not in argv[index] else 1
    if index >= len(argv) or argv[index] not in ("create", "run"):
        return None
    command, rest = argv[index], list(argv[index + 1 :])
    bundle = Path.cwd()
    positional: list[str] = []
    position = 0
    while position < len(rest):
        item = rest[position]
        name, _, inline = item.partition("=")
        if name in _CREATE_WITH_VALUE:
            value = inline if inline else (rest[position + 1] if position + 1 < len(rest) else "")
            position += 1 if inline else 2
            if name in ("--bundle", "-b"):
                bundle = Path(value)
            continue
        if not item.startswith("-"):
            positional.append(item)
        position += 1
    if not positional:
        return None
    return CreateCall(command, bundle, positional[-1])


def is_emulator(spec: dict[str, Any]) -> bool:
    """Whether the container's process is the Lambda runtime interface emulator SAM starts."""
    args = spec.get("process", {}).get("args") or []
    return bool(args) and args[0] == EMULATOR


def published_address(hostconfig: dict[str, Any]) -> tuple[str, int] | None:
    """The loopback address docker was asked to publish the emulator's port 8080 on."""
    for binding in (hostconfig.get("PortBindings") or {}).get(EMULATOR_PORT) or []:
        port = str(binding.get("HostPort") or "")
        if port.isdigit():
            return binding.get("HostIp") or "127.0.0.1", int(port)
    return None


def rewrite_spec(spec: dict[str, Any], emulator_address: tuple[str, int], runtime_api_port: int) -> dict[str, Any]:
    """The spec with the host's network namespace and the emulator on the published address."""
    host, port = emulator_address
    rewritten: dict[str, Any] = json.loads(json.dumps(spec))
    linux = rewritten.setdefault("linux", {})
    linux["namespaces"] = [ns for ns in linux.get("namespaces", []) if ns.get("type") != "network"]
    # docker's per-container net.* sysctls (unprivileged ports, ping) belong to a namespace of its
    # own; runc refuses to set them in the host's.
    sysctl = {key: value for key, value in (linux.get("sysctl") or {}).items() if not key.startswith("net.")}
    if sysctl:
        linux["sysctl"] = sysctl
    else:
        linux.pop("sysctl", None)
    args = [arg for arg in rewritten["process"]["args"]]
    args[1:1] = [
        "--runtime-interface-emulator-address",
        f"{host}:{port}",
        "--runtime-api-address",
        f"127.0.0.1:{runtime_api_port}",
    ]
    rewritten["process"]["args"] = args
    return rewritten


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare(call: CreateCall, data_root: Path) -> bool:
    """Rewrite the bundle's config.json for an emulator container; True when it was rewritten."""
    config = call.bundle / "config.json"
    spec = json.loads(config.read_text(encoding="utf-8"))
    if not is_emulator(spec):
        return False
    hostconfig_path = data_root / "containers" / call.container_id / "hostconfig.json"
    try:
        address = published_address(json.loads(hostconfig_path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        address = None
    if address is None:
        return False
    config.write_text(json.dumps(rewrite_spec(spec, address, free_loopback_port())), encoding="utf-8")
    return True


def split_own_options(argv: Sequence[str]) -> tuple[str, Path, list[str]]:
    """This wrapper's --runc and --data-root (first), then runc's own arguments."""
    runc, data_root, rest = "runc", Path("/var/lib/docker"), list(argv)
    while rest and rest[0] in ("--runc", "--data-root") and len(rest) > 1:
        if rest[0] == "--runc":
            runc = rest[1]
        else:
            data_root = Path(rest[1])
        rest = rest[2:]
    return runc, data_root, rest


def main(argv: Sequence[str] | None = None) -> None:
    runc, data_root, args = split_own_options(sys.argv[1:] if argv is None else argv)
    call = parse_create(args)
    if call is not None:
        try:
            prepare(call, data_root)
        except (OSError, ValueError, KeyError) as error:  # never stand between dockerd and runc
            sys.stderr.write(f"oci_runtime: left {call.container_id} as it is: {error}\n")
    os.execv(runc, [runc, *args])  # noqa: S606 - runc itself, with dockerd's own arguments


if __name__ == "__main__":
    main()
