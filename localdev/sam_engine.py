"""The container engine and base image `sam local` needs, on a machine that may have neither.

- A Docker that answers (DOCKER_HOST, or /var/run/docker.sock) is used as it is.
- Otherwise Debian's docker.io is installed (apt-get, once) and a dockerd of our own is started
  for the run: no bridge network at all (`--bridge=none --iptables=false --ip6tables=false`, no
  IP forwarding, no userland proxy), a private socket, and localdev/oci_runtime.py as its default
  OCI runtime, so SAM's emulator containers share the host's loopback (see that module). It is
  stopped by its PID when the run ends.
- SAM 1.170 asks for `public.ecr.aws/lambda/python:3.11-x86_64`. There is no registry to pull it
  from here, so on an engine without it the image is built once: mmdebstrap (Debian bookworm,
  python 3.11), the runtime interface client, boto3 and async-timeout under /var/runtime, and a
  /var/runtime/bootstrap; `docker import`ed under that name. The engine keeps it (/var/lib/docker),
  so later runs reuse it.

The engine API is spoken over the unix socket with http.client (no docker SDK needed here).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from localdev import procs

BASE_IMAGE = "public.ecr.aws/lambda/python:3.11-x86_64"
DEFAULT_SOCKET = Path("/var/run/docker.sock")
DATA_ROOT = Path("/var/lib/docker")
# The engine of our own: its socket and PID file, outside the work tree (a socket path must stay short).
OWN_DIR = Path("/run/askproai-sam")
DEBIAN_PACKAGES = ("docker.io", "mmdebstrap")
SUITE = "bookworm"  # python3 is 3.11, as the Lambda runtime
ROOTFS_PACKAGES = ("python3", "ca-certificates", "libstdc++6")
# Debian's python3.11 is 3.11.2; the layer's redis needs async-timeout below 3.11.3.
RUNTIME_EXTRAS = ("async-timeout==5.0.1",)

BOOTSTRAP = """#!/bin/sh
# The python3.11 Lambda runtime: the runtime interface client running the function's handler.
export PYTHONPATH="/var/task:/opt/python/lib/python3.11/site-packages:/opt/python:/var/runtime"
exec /usr/bin/python3 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
"""

IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV TZ=:UTC",
    "ENV LAMBDA_TASK_ROOT=/var/task",
    "ENV LAMBDA_RUNTIME_DIR=/var/runtime",
    "WORKDIR /var/task",
    'ENTRYPOINT ["/var/runtime/bootstrap"]',
)

Log = Callable[[str], None]


class EngineError(RuntimeError):
    """No container engine could be found or started."""


# ---------------------------------------------------------------------------
# The engine API over a unix socket
# ---------------------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def socket_path(docker_host: str | None) -> Path | None:
    """The unix socket a DOCKER_HOST value names (default socket when unset); None for tcp:// and the like."""
    if not docker_host:
        return DEFAULT_SOCKET
    parsed = urllib.parse.urlsplit(docker_host)
    return Path(parsed.path) if parsed.scheme == "unix" else None


class EngineApi:
    """The few engine calls this needs: ping, image inspect, import, container prune."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout

    def request(
        self, method: str, url: str, body: IO[bytes] | None = None, timeout: float | None = None
    ) -> tuple[int, bytes]:
        connection = _UnixConnection(str(self.path), timeout or self.timeout)
        try:
            headers = {"Content-Type": "application/x-tar", "Transfer-Encoding": "chunked"} if body else {}
            connection.request(method, url, body=body, headers=headers, encode_chunked=body is not None)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def ping(self) -> bool:
        try:
            status, _ = self.request("GET", "/_ping", timeout=3)
        except OSError:
            return False
        return status == 200

    def has_image(self, name: str) -> bool:
        status, _ = self.request("GET", f"/images/{urllib.parse.quote(name, safe='')}/json")
        return status == 200

    def import_image(self, tarball: Path, name: str, changes: Sequence[str]) -> None:
        repository, _, tag = name.rpartition(":")
        query = urllib.parse.urlencode(
            [("fromSrc", "-"), ("repo", repository), ("tag", tag), *(("changes", change) for change in changes)]
        )
        with tarball.open("rb") as stream:
            status, body = self.request("POST", f"/images/create?{query}", body=stream, timeout=600)
        if status != 200 or b'"error"' in body:
            raise EngineError(f"importing {name} failed ({status}): {body[-500:].decode(errors='replace')}")

    def prune_containers(self) -> None:
        self.request("POST", "/containers/prune", timeout=60)


# ---------------------------------------------------------------------------
# Debian's docker.io, and a dockerd of our own
# ---------------------------------------------------------------------------


def missing_tools() -> list[str]:
    return [tool for tool in ("dockerd", "runc", "mmdebstrap") if shutil.which(tool) is None]


@contextmanager
def _services_held_back() -> Iterator[None]:
    """No package's init script starts a daemon during the install (a default dockerd would make a
    bridge): Debian's policy-rc.d "101: action forbidden", unless the machine already has one."""
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        policy.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
        policy.chmod(0o755)
    try:
        yield
    finally:
        if created:
            policy.unlink(missing_ok=True)


def install_packages(log: Log) -> float:
    """apt-get install docker.io and mmdebstrap when dockerd, runc or mmdebstrap is missing; the seconds it took."""
    if not missing_tools():
        return 0.0
    if os.geteuid() != 0:
        raise EngineError("no container engine, and installing Debian's docker.io needs root (apt-get)")
    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *DEBIAN_PACKAGES]
    log(f"engine: installing {', '.join(DEBIAN_PACKAGES)} (apt-get)")
    with _services_held_back():
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
            result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise EngineError(f"apt-get install {' '.join(DEBIAN_PACKAGES)} failed:\n{result.stderr[-2000:]}")
    return time.monotonic() - started


def runtime_wrapper_script(python: str, module_file: Path, runc: str, data_root: Path) -> str:
    """The executable dockerd runs as its default OCI runtime (localdev/oci_runtime.py in front of runc)."""
    return (
        "#!/bin/sh\n"
        "# Written by localdev/sam_engine.py for make sam-local's dockerd: runc, with SAM's emulator\n"
        "# containers moved onto the host's loopback (localdev/oci_runtime.py).\n"
        f'exec {python} -S {module_file} --runc {runc} --data-root {data_root} "$@"\n'
    )


def dockerd_command(config_file: Path, socket: Path, pidfile: Path) -> list[str]:
    """dockerd with no network of its own: no bridge, no iptables, no forwarding, no proxy."""
    return [
        shutil.which("dockerd") or "/usr/sbin/dockerd",
        f"--config-file={config_file}",
        f"--host=unix://{socket}",
        f"--pidfile={pidfile}",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--userland-proxy=false",
    ]


def daemon_config(runtime_path: Path) -> dict[str, Any]:
    return {"runtimes": {"sam-loopback": {"path": str(runtime_path)}}, "default-runtime": "sam-loopback"}


class Engine:
    """The engine for one run: the one already there, or a dockerd we start and stop."""

    def __init__(self, state_dir: Path, log: Log) -> None:
        self.state_dir = state_dir.resolve()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.docker_host: str | None = os.environ.get("DOCKER_HOST")
        self.install_seconds = 0.0
        self.start_seconds = 0.0
        self.started_own = False

    @property
    def api(self) -> EngineApi | None:
        path = socket_path(self.docker_host)
        return EngineApi(path) if path is not None else None

    def existing(self) -> bool:
        """Whether an engine already answers (a tcp:// DOCKER_HOST is trusted as it is)."""
        api = self.api
        return api is None or api.ping()

    def start(self) -> None:
        if self.existing():
            self.log(f"engine: using the running Docker ({self.docker_host or DEFAULT_SOCKET})")
            return
        self.install_seconds = install_packages(self.log)
        started = time.monotonic()
        OWN_DIR.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        wrapper = self.state_dir / "oci-runtime"
        runc = shutil.which("runc") or "/usr/sbin/runc"
        module_file = Path(__file__).resolve().with_name("oci_runtime.py")
        wrapper.write_text(runtime_wrapper_script(sys.executable, module_file, runc, DATA_ROOT), encoding="utf-8")
        wrapper.chmod(0o755)
        config = self.state_dir / "daemon.json"
        config.write_text(json.dumps(daemon_config(wrapper), indent=2), encoding="utf-8")
        sock, pidfile = OWN_DIR / "docker.sock", OWN_DIR / "docker.pid"
        self._clear_stale(pidfile)
        log_file = (self.state_dir / "dockerd.log").open("wb")
        self.log("engine: starting dockerd (no bridge, no iptables; emulator containers on loopback)")
        # procs.spawn: dockerd gets SIGTERM from the kernel even when this process is killed.
        self.process = procs.spawn(dockerd_command(config, sock, pidfile), stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        self.started_own = True
        self.docker_host = f"unix://{sock}"
        deadline = time.monotonic() + 60
        while not EngineApi(sock).ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.state_dir / "dockerd.log").read_text(errors="replace")[-1500:]
                raise EngineError(f"dockerd did not come up (see {self.state_dir / 'dockerd.log'}):\n{tail}")
            time.sleep(0.2)
        self.start_seconds = time.monotonic() - started

    @staticmethod
    def _clear_stale(pidfile: Path) -> None:
        """A dockerd of ours left by a run that was killed: stop it (by its PID) before starting another;
        a PID file of one that died makes the next refuse to start."""
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            pidfile.unlink(missing_ok=True)
            return
        if not (cmdline and cmdline[0].endswith(b"dockerd") and f"--pidfile={pidfile}".encode() in cmdline):
            pidfile.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(150):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.2)
        pidfile.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop the dockerd we started (by its PID), after removing the containers the run left."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None and self.docker_host:
            path = socket_path(self.docker_host)
            if path is not None:
                with suppress(OSError):
                    EngineApi(path).prune_containers()
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)

    def environment(self) -> dict[str, str]:
        """What `sam` needs in its environment to reach this engine."""
        return {"DOCKER_HOST": self.docker_host} if self.docker_host else {}


# ---------------------------------------------------------------------------
# The base image
# ---------------------------------------------------------------------------


def mmdebstrap_command(
    target: Path, bootstrap: Path, python: str, requirements: Sequence[str], mirror: str | None = None
) -> list[str]:
    """mmdebstrap into a tarball: Debian's python3 and what the Lambda base image adds under /var/runtime."""
    pip = " ".join([python, "-m", "pip", "install", "-q", "--no-compile", "--target", '"$1/var/runtime"'])
    pip += " " + " ".join(f"'{requirement}'" for requirement in requirements)
    command = [
        "mmdebstrap",
        "--variant=essential",
        "--mode=root",
        "--format=tar",
        f"--include={','.join(ROOTFS_PACKAGES)}",
        "--dpkgopt=force-unsafe-io",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/info/*",
        f"--customize-hook={pip}",
        f'--customize-hook=install -D -m 0755 {bootstrap} "$1/var/runtime/bootstrap"',
        '--customize-hook=mkdir -p "$1/var/task" "$1/opt" "$1/tmp"',
        '--customize-hook=rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists"',
        SUITE,
        str(target),
    ]
    if mirror:
        command.append(mirror)
    return command


def runtime_requirements(root: Path) -> list[str]:
    """The pins of requirements-runtime.txt (what the Lambda base image provides) and the extras.

    The file is uv's hashed lock: a pin is a `name==version \\` line; its `--hash=` and `# via`
    lines around it are left out (the image's pip installs the same versions by name)."""
    lines = (root / "requirements-runtime.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.split("#", 1)[0].strip().rstrip("\\").strip() for line in lines]
    return [pin for pin in pins if pin and not pin.startswith("-")] + list(RUNTIME_EXTRAS)


def ensure_base_image(api: EngineApi, root: Path, log: Log, python: str = sys.executable) -> float:
    """Build and import the base image unless the engine has it; the seconds the build took (0: reused)."""
    if api.has_image(BASE_IMAGE):
        log(f"image: {BASE_IMAGE} is there (reused)")
        return 0.0
    if shutil.which("mmdebstrap") is None:
        raise EngineError(f"{BASE_IMAGE} is missing and mmdebstrap is not installed (apt-get install mmdebstrap)")
    started = time.monotonic()
    log(f"image: building {BASE_IMAGE} (mmdebstrap {SUITE}, awslambdaric, boto3)")
    with tempfile.TemporaryDirectory(prefix="sam-base-image-") as scratch:
        bootstrap = Path(scratch) / "bootstrap"
        bootstrap.write_text(BOOTSTRAP, encoding="utf-8")
        tarball = Path(scratch) / "rootfs.tar"
        command = mmdebstrap_command(tarball, bootstrap, python, runtime_requirements(root))
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EngineError(f"mmdebstrap failed:\n{result.stderr[-3000:]}")
        log(f"image: rootfs ({tarball.stat().st_size // 2**20} MiB) in {time.monotonic() - started:.1f}s; importing")
        api.import_image(tarball, BASE_IMAGE, IMAGE_CHANGES)
    seconds = time.monotonic() - started
    log(f"image: built {BASE_IMAGE} in {seconds:.1f}s")
    return seconds
