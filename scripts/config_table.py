"""The README's configuration table, generated from the settings code so it cannot drift.

Each function of template.yaml has its settings classes (those its app.py reads, as `make
check-config` finds them) read an environment through one EnvReader, which records every
variable read with its kind, default and `doc` (written where the variable is read). A
variable is required for a function when that function's settings, read from an empty
environment, name it in an error (`load_settings` and the `require()` of what the function
builds). The template's function variables that no settings class reads must be a library's
(LIBRARY_VARIABLES), else this fails. The table goes between the README's
`<!-- config:begin -->` and `<!-- config:end -->` markers; `make lint` runs it with --check
(fails when the README differs); run it without arguments to rewrite the README.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import check_config
from platform_monitoring.core.config import EnvReader, VariableRead

from localdev.template.loading import FUNCTION_TYPE, load_template, resources_of_type

ROOT = check_config.ROOT
BEGIN, END = "<!-- config:begin -->", "<!-- config:end -->"
# Variables the template sets for a library, not read by our settings.
LIBRARY_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME": "Powertools' service name (logs and metrics)",
    "POWERTOOLS_METRICS_NAMESPACE": "Powertools' CloudWatch metrics namespace",
}
_VARIABLE = re.compile(r"^([A-Z][A-Z0-9_]+)\b")


@dataclass
class Row:
    read: VariableRead
    functions: list[str] = field(default_factory=list)
    required_by: list[str] = field(default_factory=list)
    source: str | None = None  # "stack parameter `X`" or "template: `X`" (a resource's Ref)


@dataclass(frozen=True)
class Function:
    logical_id: str
    app: Path
    settings_classes: list[Any]
    template_variables: Mapping[str, Any]
    parameters: frozenset[str]


def functions(template_path: Path) -> Iterator[Function]:
    template = load_template(template_path)
    globals_ = ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    for logical_id, resource in resources_of_type(template, FUNCTION_TYPE).items():
        properties = resource.get("Properties") or {}
        app = template_path.parent / str(properties.get("CodeUri", "")) / "app.py"
        own = (properties.get("Environment") or {}).get("Variables") or {}
        variables = {**(globals_.get("Variables") or {}), **own}
        parameters = frozenset(template.get("Parameters") or {})
        yield Function(logical_id, app, check_config.settings_classes(app), variables, parameters)


def reads_of(function: Function) -> dict[str, VariableRead]:
    """Every variable the function's settings read (from an empty environment: every path is taken
    whatever the values, since each accessor records before it looks)."""
    reader = EnvReader({}, collect=True)
    for settings_class in function.settings_classes:
        try:
            settings_class.from_env(reader)
        except Exception:  # noqa: S112 - a check across variables; the reads are what counts here
            continue
    return reader.reads


def required_of(function: Function) -> set[str]:
    """The variables the function's settings name in an error when none is set."""
    source = function.app.read_text(encoding="utf-8")
    errors = [
        message
        for settings_class in function.settings_classes
        for message in check_config.settings_errors(settings_class, {}, source)
    ]
    return {match.group(1) for error in errors if (match := _VARIABLE.match(error))}


def rows(template_path: Path) -> tuple[list[Row], list[str]]:
    """The table's rows in the order the settings read them, and every function's logical id."""
    table: dict[str, Row] = {}
    ids: list[str] = []
    unread: dict[str, list[str]] = {}
    for function in functions(template_path):
        ids.append(function.logical_id)
        reads = reads_of(function)
        for name, read in reads.items():
            row = table.setdefault(name, Row(read))
            if read.doc not in row.read.doc:
                row.read = VariableRead(name, f"{row.read.doc}; {read.doc}", read.kind, read.default, read.aliases)
            row.functions.append(function.logical_id)
            value = function.template_variables.get(name)
            if isinstance(value, dict) and "Ref" in value:
                target = str(value["Ref"])
                row.source = f"stack parameter `{target}`" if target in function.parameters else f"template: `{target}`"
        for name in required_of(function):
            if name in table:
                table[name].required_by.append(function.logical_id)
        for name in function.template_variables:
            if name not in reads:
                unread.setdefault(name, []).append(function.logical_id)
    return _completed(table, unread), ids


def _completed(table: dict[str, Row], unread: dict[str, list[str]]) -> list[Row]:
    """The rows with the libraries' variables; refused when the template sets a variable nothing
    reads, or a variable is read without its doc."""
    unknown = sorted(set(unread) - set(LIBRARY_VARIABLES) - set(table))
    if unknown:
        raise SystemExit(f"config_table: template.yaml sets {', '.join(unknown)}, which no settings class reads")
    for name, doc in LIBRARY_VARIABLES.items():
        if name in unread:
            table[name] = Row(VariableRead(name, doc, "text"), functions=unread[name])
    undocumented = sorted(name for name, row in table.items() if not row.read.doc)
    if undocumented:
        raise SystemExit(f"config_table: no doc= where these are read: {', '.join(undocumented)}")
    return list(table.values())


def _functions_text(names: list[str], every: list[str]) -> str:
    if set(names) >= set(every):
        return "every function"
    return ", ".join(name.removesuffix("Function") for name in names)


def table(template_path: Path = check_config.ROOT / "template.yaml") -> str:
    found, every = rows(template_path)
    lines = ["| variable | read by | default | required | what it is |", "| --- | --- | --- | --- | --- |"]
    for row in found:
        read = row.read
        name = f"`{read.name}`" + "".join(f" (or `{alias}`)" for alias in read.aliases)
        default = "unset" if read.default is None else f"`{read.default}`"
        required = "no"
        if row.required_by:
            required = "yes" if set(row.required_by) >= set(row.functions) else _functions_text(row.required_by, every)
        what = f"{read.doc} ({read.kind})"
        if row.source:
            what += f"; {row.source}"
        lines.append(f"| {name} | {_functions_text(row.functions, every)} | {default} | {required} | {what} |")
    return "\n".join(lines)


def rendered(readme: str, template_path: Path = check_config.ROOT / "template.yaml") -> str:
    head, _, rest = readme.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table(template_path)}\n{END}{tail}"


def main(argv: list[str], readme_path: Path = ROOT / "README.md", template_path: Path = ROOT / "template.yaml") -> int:
    readme = readme_path.read_text(encoding="utf-8")
    if BEGIN not in readme or END not in readme:
        print(f"{readme_path.name} has no {BEGIN} ... {END} section", file=sys.stderr)
        return 1
    new = rendered(readme, template_path)
    if "--check" in argv:
        if new != readme:
            print(
                f"{readme_path.name}'s configuration table is stale: run .venv/bin/python scripts/config_table.py",
                file=sys.stderr,
            )
            return 1
        return 0
    readme_path.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
