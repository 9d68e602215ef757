"""The structure the design promises, held by reading the code (ast, no imports run).

- Only `broadcaster.lifecycle` writes a broadcast's status.
- No import cycle across broadcaster/ and segments/ (module-level imports), and every
  function-local import says why in a comment.
- The core imports no feature package.
- Every module is under MAX_LINES (migrations, the schema's history, excepted).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("broadcaster", "segments")
LIFECYCLE = "broadcaster.lifecycle"
FEATURES = (
    "broadcaster.emergency",
    "broadcaster.benefits",
    "broadcaster.digest",
    "broadcaster.garbage",
)
CORE = (
    "broadcaster.lifecycle",
    "broadcaster.planning",
    "broadcaster.policies",
    "broadcaster.dispatch",
    "broadcaster.outbox",
    "broadcaster.pages",
    "broadcaster.chunks",
    "broadcaster.heap",
    "broadcaster.schedule",
    "broadcaster.series",
    "broadcaster.progress",
    "broadcaster.broadcast_requests",
    "broadcaster.broadcast_creation",
    "broadcaster.broadcast_edits",
    "broadcaster.broadcasts",
    "broadcaster.delivery",
    "broadcaster.ledger",
    "broadcaster.pacing",
    "broadcaster.frequency",
    "broadcaster.limits",
    "broadcaster.render",
    "broadcaster.render.renderer",
    "broadcaster.render.prepared",
    "broadcaster.render.template_facts",
    "broadcaster.render.parameters",
    "broadcaster.render.template_error",
    "broadcaster.dispatch_process",
)


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            yield name.removesuffix(".__init__"), path


# -- who writes a broadcast's status ---------------------------------------------------


def _mentions(node: ast.AST, *words: str) -> bool:
    text = ast.unparse(node)
    return any(word in text for word in words)


def status_writes(source: str) -> list[int]:
    """Lines that write the broadcast status column: `x.status = BroadcastStatus...` or
    `broadcast.status = ...`, `Broadcast(status=...)`, `status=BroadcastStatus...` in any
    call, `{"status": BroadcastStatus...}`, and `update(<broadcast table>).values(status=)`."""
    tree = ast.parse(source)
    tables = {"BROADCAST"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _mentions(
            node.value, "Broadcast)", "Broadcast.__table__"
        ):
            tables |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        if (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
            and _mentions(node.value, "Broadcast)", "Broadcast.__table__")
        ):
            tables.add(node.target.id)
    found: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    value = node.value if node.value is not None else target
                    if (
                        _mentions(value, "BroadcastStatus")
                        or "broadcast" in ast.unparse(target.value).lower()
                    ):
                        found.append(node.lineno)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg != "status":
                    continue
                callee = ast.unparse(node.func)
                on_broadcast_table = callee.endswith(".values") and any(
                    isinstance(inner, ast.Call)
                    and ast.unparse(inner.func).split(".")[-1] == "update"
                    and inner.args
                    and (
                        ast.unparse(inner.args[0]) in tables
                        or _mentions(inner.args[0], "Broadcast)", "Broadcast.__table__")
                    )
                    for inner in ast.walk(node.func)
                )
                if (
                    _mentions(keyword.value, "BroadcastStatus")
                    or callee == "Broadcast"
                    or on_broadcast_table
                ):
                    found.append(node.lineno)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == "status"
                    and _mentions(value, "BroadcastStatus")
                ):
                    found.append(node.lineno)
    return sorted(set(found))


@pytest.mark.parametrize(
    "snippet",
    [
        "broadcast.status = BroadcastStatus.cancelled",
        "item.status = BroadcastStatus.sent",
        "broadcast.status = _initial_status(request)",
        "Broadcast(title='x', status='scheduled')",
        "t = table_of(Broadcast)\nsa.update(t).where(t.c.id == 1).values(status=s.value)",
        "sa.update(table).values(status=BroadcastStatus.sending.value, started_at=now)",
        "values = {'status': BroadcastStatus.sent.value}",
    ],
)
def test_the_status_check_sees_each_way_of_writing_it(snippet: str) -> None:
    assert status_writes(snippet), snippet


def test_a_batch_or_a_collection_day_may_still_write_its_own_status() -> None:
    assert not status_writes("row.status = DayStatus.cancelled")
    assert not status_writes("sa.update(batch).values(status=BatchStatus.failed.value)")


def test_only_the_lifecycle_writes_a_broadcast_status() -> None:
    writers = {
        name: lines
        for name, path in modules()
        if name != LIFECYCLE and (lines := status_writes(path.read_text(encoding="utf-8")))
    }
    assert writers == {}, f"status written outside broadcaster.lifecycle: {writers}"


# -- the import graph --------------------------------------------------------------------


def _imported(
    name: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]
) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, *([node.module] if node.module else [])])
    found = set()
    for alias in node.names:
        # `from package import module` depends on the module, not on the package's __init__.
        if f"{base}.{alias.name}" in known:
            found.add(f"{base}.{alias.name}")
        elif base in known:
            found.add(base)
    return found - {name}


def _module_level(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: the top level and under if/try."""
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if ast.unparse(node.test) == "TYPE_CHECKING":
                continue  # never run, so no cycle at import time
            stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                stack.extend(handler.body)


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """(module -> modules it imports at module level, function-local imports as
    (module, line, the line before and the line itself))."""
    paths = dict(modules())
    known = set(paths)
    graph: dict[str, set[str]] = {name: set() for name in paths}
    local: list[tuple[str, int, str]] = []
    for name, path in paths.items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        top = set(map(id, _module_level(tree)))
        typing_only = {
            id(child)
            for node in tree.body
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            for child in ast.walk(node)
        }
        lines = source.splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in typing_only:
                continue
            targets = _imported(name, path, node, known)
            if id(node) in top:
                graph[name] |= targets
            elif targets:
                context = "\n".join(lines[max(0, node.lineno - 3) : node.lineno])
                local.append((name, node.lineno, context))
    return graph, local


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_there_is_no_import_cycle() -> None:
    graph, _ = import_graph()
    assert cycles(graph) == []


LAZY = "# Lazy imports:"  # a module-level comment giving the why for the whole module


def test_every_function_local_import_says_why() -> None:
    _, local = import_graph()
    paths = dict(modules())
    lazy = {name for name, path in paths.items() if LAZY in path.read_text(encoding="utf-8")}
    silent = [
        f"{name}:{line}" for name, line, context in local if "#" not in context and name not in lazy
    ]
    assert silent == [], f"function-local imports without a comment saying why: {silent}"


def test_the_core_imports_no_feature() -> None:
    graph, local = import_graph()
    reach = {
        module: sorted(target for target in graph[module] if target.startswith(FEATURES))
        for module in CORE
        if module in graph
    }
    reach |= {
        name: [context]
        for name, _, context in local
        if name in CORE and any(feature in context for feature in FEATURES)
    }
    assert {module: found for module, found in reach.items() if found} == {}


# -- size ------------------------------------------------------------------------------

MAX_LINES = 400  # ../shared/style.md: one concept a module, split before it grows past this


def test_every_module_is_under_the_line_limit() -> None:
    long = {
        name: lines
        for name, path in modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines (split them by concept): {long}"
