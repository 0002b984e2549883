"""The layout the code promises: no import cycles, stages below the orchestrator, real command names, lint.

Run alone with ``python -m pytest -q tests/test_structure.py``; each check reads the source
files as text (nothing is imported but the CLI app, for its command names).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "termadapt"
# Modules allowed to import the orchestrator: the CLI, and the orchestrator itself.
ORCHESTRATION = ("termadapt.cli", "termadapt.pipeline")


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the termadapt modules it imports (anywhere in the file, lazy imports included)."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                head = ".".join(base + ([node.module] if node.module else []))
                targets = [head] + [f"{head}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    edges[name].add(target)
    return edges


def test_no_stage_imports_the_pipeline_or_the_cli():
    bad = [
        f"{m} imports {t}"
        for m, ts in _imports(_modules()).items()
        if not m.startswith(ORCHESTRATION)
        for t in ts
        if t.startswith(ORCHESTRATION)
    ]
    assert bad == []


def test_no_import_cycles():
    edges = _imports(_modules())
    cycles, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = "open"
        for t in sorted(edges[m]):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t) :] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def _commands() -> set[str]:
    from typer.main import get_command

    from termadapt.cli import app

    return set(get_command(app).commands)


# `termadapt <word>` followed by an argument placeholder, a flag, a closing backtick or the end
# of a quoted string: a command the text tells the user to run.
COMMAND_MENTION = re.compile(r"`termadapt ([a-z][a-z-]*)|termadapt ([a-z][a-z-]*)(?= [A-Z]{3,}| --| \[)")


def _mentions(text: str) -> set[str]:
    return {a or b for a, b in COMMAND_MENTION.findall(text)}


def test_every_command_a_message_or_the_readme_mentions_exists():
    commands = _commands()
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for cmd in _mentions(node.value):
                    found.setdefault(cmd, set()).add(str(path.relative_to(ROOT)))
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for cmd in _mentions(doc.read_text(encoding="utf-8")):
            found.setdefault(cmd, set()).add(doc.name)
    assert {"dataset", "terms", "train", "evaluate"} <= set(found)  # the scan sees the messages
    missing = {cmd: sorted(where) for cmd, where in found.items() if cmd not in commands}
    assert missing == {}


def test_every_stage_is_a_command():
    from termadapt.pipeline import STAGE_NAMES

    assert set(STAGE_NAMES) <= _commands()


def test_code_cites_its_own_docs_not_a_design_file_outside_the_repo():
    cited = [
        str(p.relative_to(ROOT))
        for p in [*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
        if "DESIGN.md" in p.read_text(encoding="utf-8")
    ]
    assert cited == []
    assert (ROOT / "docs" / "design.md").is_file()


def _ruff() -> list[str]:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.skip("ruff is not installed — pip install -e '.[dev]'")
    return [sys.executable, "-m", "ruff"]


def test_ruff_lint_and_format_are_clean():
    ruff = _ruff()
    lint = subprocess.run(
        [*ruff, "check", "termadapt", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = subprocess.run(
        [*ruff, "format", "--check", "termadapt", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout[-3000:]
