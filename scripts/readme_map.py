"""The README's map of pieces to files, generated from the code so it cannot go stale.

Each function folder's `app.py` docstring (first line) and each library package's `__init__.py`
docstring with its modules become the table between the README's `<!-- map:begin -->` and
`<!-- map:end -->` markers. `make lint` runs it with --check (fails when the README differs);
run it without arguments to rewrite the README.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "shared" / "platform_monitoring"
BEGIN, END = "<!-- map:begin -->", "<!-- map:end -->"


def first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def packages() -> list[Path]:
    return sorted(p.parent for p in LIBRARY.rglob("__init__.py") if p.parent != LIBRARY and "migrations" not in p.parts)


def table() -> str:
    rows = ["| piece | what it is | files |", "| --- | --- | --- |"]
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        rows.append(f"| function `{app.parent.name}` | {first_line(app)} | `functions/{app.parent.name}/app.py` |")
    for package in packages():
        name = package.relative_to(LIBRARY).as_posix()
        modules = ", ".join(f"`{m.stem}`" for m in sorted(package.glob("*.py")) if m.stem != "__init__")
        rows.append(f"| library `{name}/` | {first_line(package / '__init__.py')} | {modules} |")
    return "\n".join(rows)


def rendered(readme: str) -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = ROOT / "README.md"
    readme = path.read_text()
    if BEGIN not in readme or END not in readme:
        print(f"README.md has no {BEGIN} ... {END} section", file=sys.stderr)
        return 1
    new = rendered(readme)
    if "--check" in argv:
        if new != readme:
            print("README.md's map is stale: run .venv/bin/python scripts/readme_map.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
