"""The shape of the code, read from its source: imports go pages -> components -> services (and
cli.py -> commands -> services), never back; `server/` (the st.App's lifespan, routes and
process-wide state) sits beside them: pages and app.py may use it, components and services never,
and it uses no component or page; no import cycles, function-level imports included; `services/`
and `commands/` never import Streamlit; no module over 400 lines.

Every `import` statement counts, wherever it stands, so an import moved into a function to hide a
cycle is still seen. Importing a submodule imports its packages first, so those count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("services", "components", "pages", "commands", "server")
SCRIPTS = ("app.py", "cli.py")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    found = {_module_name(ROOT / s): ROOT / s for s in SCRIPTS}
    for package in PACKAGES:
        found |= {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    return found


SOURCES = _sources()


def _imported(path: Path) -> set[str]:
    """Every module an import statement in the file names, top-level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from a import b`: b is a submodule of a, or a name defined in a.
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _project_edges(name: str) -> set[str]:
    """The project modules this one makes Python import: each named module and its packages."""
    targets: set[str] = set()
    for imported in _imported(SOURCES[name]):
        parts = imported.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in SOURCES and prefix != name and not name.startswith(prefix + "."):
                targets.add(prefix)
    return targets


GRAPH = {name: _project_edges(name) for name in SOURCES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_reader_sees_every_module():
    """Test that the graph is built from the real tree (a wrong root would pass everything)."""
    assert {"services.analysis.pipeline", "components.charts", "pages.results",
            "commands.analyze", "server.lifespan", "app", "cli"} <= set(SOURCES)
    assert "services.analysis.jobs" in GRAPH["services.analysis.pipeline"]


def test_no_import_cycles():
    """Test that no group of modules imports itself round, function-level imports included."""
    assert _cycles(GRAPH) == []


def test_a_cycle_is_found():
    """Test that the cycle finder finds a cycle (so the test above can fail)."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


LAYERS = {  # who may not import whom
    "services": ("streamlit", "components", "pages", "commands", "server", "app", "cli"),
    "commands": ("streamlit", "components", "pages", "server", "app", "cli"),
    # Components only draw: no server runtime (routes, lifespans, the worker) in them.
    "components": ("pages", "commands", "server", "starlette", "uvicorn", "app", "cli",
                   "services.analysis.worker"),
    "server": ("components", "pages", "commands", "app", "cli"),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_imports_go_one_way(layer):
    """Test that services never import Streamlit or the UI, components never import pages or
    the server runtime, and the server runtime never imports the UI."""
    wrong = sorted(
        f"{name} imports {imported}"
        for name, path in SOURCES.items() if name == layer or name.startswith(layer + ".")
        for imported in _imported(path)
        if any(imported == banned or imported.startswith(banned + ".")
               for banned in LAYERS[layer])
    )
    assert wrong == []


def test_modules_stay_small():
    """Test that no module of the app grows past 400 lines (split it along its seams)."""
    tests = {_module_name(p): p for p in (ROOT / "tests").rglob("*.py")}
    long = sorted(
        f"{name}: {len(path.read_text('utf-8').splitlines())} lines"
        for name, path in (SOURCES | tests).items()
        if len(path.read_text("utf-8").splitlines()) > MAX_LINES
    )
    assert long == []
