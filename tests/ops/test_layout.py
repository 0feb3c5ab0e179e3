"""The layout stays true: no import circles, no upward imports, no oversized modules.

docs/architecture.md explains the layers; this test is their definition.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "gateway"

#: Lowest first. A module may import its own layer and those below, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("gateway", "gateway.clock", "gateway.timeguard", "gateway.budget", "gateway.geometry",
     "gateway.errors", "gateway.models", "gateway.durations",
     "gateway.fsutil", "gateway.crashpoints", "gateway.audit", "gateway.metrics",
     "gateway.config", "gateway.strict", "gateway.limits", "gateway.notify.settings",
     "gateway.humanize", "gateway.users.settings", "gateway.segments.rtsp_settings"),
    ("gateway.catalog", "gateway.media", "gateway.vault", "gateway.notify.mail",
     "gateway.notify.webhook"),
    ("gateway.policy.loading", "gateway.policy.check", "gateway.policy.notice"),
    ("gateway.runtime", "gateway.segments.rules", "gateway.segments.receipts",
     "gateway.segments.recovery", "gateway.segments.timeline", "gateway.holds.access",
     "gateway.holds.rules", "gateway.holds.records", "gateway.holds.package",
     "gateway.notify.events"),
    ("gateway.segments", "gateway.keys", "gateway.users", "gateway.holds.lookups"),
    ("gateway.holds", "gateway.policy", "gateway.notify"),
    ("gateway.loops",),
    ("gateway.web",),
    ("gateway.app", "gateway.cli", "gateway.demo"),
)
MAX_LINES = 420


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The layer of the longest matching prefix."""
    best, found = -1, None
    for i, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best:
                best, found = len(n), i
    assert found is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return found


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path) -> set[str]:
    """The gateway modules ``path`` imports at run time (TYPE_CHECKING blocks excluded)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gateway")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            if not src.startswith("gateway"):
                continue
            for a in node.names:  # "from pkg import module" imports the module
                sub = f"{src}.{a.name}"
                out.add(sub if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists()
                        or (ROOT.parent / sub.replace(".", "/")).is_dir() else src)
    return out - {me}


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}
GRAPH = {m: {i for i in imports(p) if i in MODULES} for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module):
    mine = layer(module)
    upward = sorted(i for i in GRAPH[module] if layer(i) > mine)
    assert not upward, f"{module} (layer {mine}) imports a higher layer: {upward}"


def test_no_import_circle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_layer_check_would_catch_a_circle_and_an_upward_import():
    # The checks above are only worth something if they can fail: feed them a bad graph.
    assert layer("gateway.web.routes") > layer("gateway.catalog.segments")
    saved = dict(GRAPH)
    try:
        GRAPH["gateway.catalog.core"] = GRAPH["gateway.catalog.core"] | {"gateway.web.routes"}
        with pytest.raises(AssertionError, match="import circle"):
            test_no_import_circle()
        with pytest.raises(AssertionError, match="higher layer"):
            test_no_upward_import("gateway.catalog.core")
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_oversized(module):
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by concept"
