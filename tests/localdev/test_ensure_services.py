"""scripts/ensure-services says what is missing at once instead of waiting on "command not found":
run with a PATH that has no redis-server and REDIS_URL/DB_PORT on free loopback ports, where
nothing answers and nothing may be started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-services"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_that_is_not_installed_is_named_with_its_apt_command(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # the shell's basics, and neither redis-server nor mariadbd
    bin_dir.mkdir()
    for tool in ("bash", "timeout", "id", "mkdir", "sleep", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    env = {
        **os.environ,
        "PATH": str(bin_dir),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(free_port()),
    }
    started = time.monotonic()
    result = subprocess.run([bin_dir / "bash", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "redis-server is not installed" in result.stderr, result.stderr
    assert "apt-get install -y redis-server" in result.stderr
    assert "starts only the default one, on 3306" in result.stderr  # a non-default MariaDB is not started
    assert "waiting" not in result.stderr
    assert elapsed < 15, f"took {elapsed:.1f}s"
