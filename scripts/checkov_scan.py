"""`make checkov`: template.yaml through the SAM translator (what CloudFormation receives), then
checkov's CloudFormation checks on it with the waivers of .checkov.yaml (docs/security.md#checkov-waivers).

checkov runs from its own venv (.venv-checkov, requirements-checkov.txt): its pins conflict with pytest's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.iam import expand_template  # noqa: E402 - after the path above

OUTPUT = ROOT / ".local" / "checkov" / "template.json"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def main() -> int:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(expand_template(), indent=1) + "\n")
    command = [str(CHECKOV), "--config-file", str(ROOT / ".checkov.yaml"), "-f", str(OUTPUT)]
    return subprocess.run(command, cwd=ROOT, check=False).returncode  # noqa: S603 - our own venv's checkov


if __name__ == "__main__":
    raise SystemExit(main())
