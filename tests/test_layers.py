"""The house rule: data flows one way, sources -> crawler -> archive storage -> watch -> surfaces.

Every module's imports (module level, lazy and TYPE_CHECKING ones alike) are read from its AST and must point
down the layers of ../shared/design/layout.md, never up and never from one stage to another; modules form no
import cycle; a module over 400 lines says in its docstring that it holds one concept, and none passes 650.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES, ONE_CONCEPT_MAX = 400, 650
ONE_CONCEPT = "one concept"

# (layer, group): a lower layer number is higher in the house; stages (layer 2) are each their own group.
LAYERS: dict[str, tuple[int, str]] = {
    "archive.cli": (1, "cli"), "archive.api": (1, "api"), "scheduler": (1, "scheduler"),
    "archive.tasks": (1, "tasks"),  # Celery tasks run the stages for the scheduler, as the CLI does
    "crawler": (2, "crawler"), "archive.watch": (2, "watch"), "archive.wayback": (2, "wayback"),
    **{f"archive.{name}": (3, "io") for name in ("sources", "captures", "due", "providers.info", "report",
                                                 "tokens", "spawn", "research")},
    **{f"archive.{name}": (4, "infra") for name in ("config", "db", "models", "workspace", "locks", "net", "storage",
                                                    "warc", "evidence", "migrations", "tally")},
    # Providers: what each video site's URLs look like and how it says a video is gone (pure); info fetches.
    **{f"archive.{name}": (5, "pure") for name in ("status", "extract", "providers", "urls", "vocab", "timefmt",
                                                   "errors")},
}
PACKAGE = ("archive", (5, "pure"))  # the package itself holds __version__ only; it is no prefix of the others
# The command line is the door to the other surfaces (`serve`, `schedule`, `worker`); the scheduler hands work to
# tasks; the API's /metrics shows what the tasks' workers are doing, as `lastseen workers` does.
SURFACE_DOORS = {("cli", "api"), ("cli", "scheduler"), ("cli", "tasks"), ("scheduler", "tasks"), ("api", "tasks")}


def layer_of(module: str) -> tuple[int, str] | None:
    """The (layer, group) of a project module by its longest registered prefix; None for other code."""
    if module == PACKAGE[0]:
        return PACKAGE[1]
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = LAYERS.get(".".join(parts[:end]))
        if found:
            return found
    return None


def project_modules() -> dict[str, Path]:
    """Every module of archive/, crawler/ and scheduler.py by dotted name."""
    found = {"scheduler": ROOT / "scheduler.py"}
    for package in ("archive", "crawler"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_modules(source: str, known: set[str]) -> set[str]:
    """The project modules a source imports anywhere in it (`from a import b` counts a.b when b is a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known
            names.update(submodules)
            if len(submodules) < len(node.names):  # `from package import module` alone is no use of package
                names.add(node.module)
    return {name for name in names if layer_of(name) is not None}


def wrong_way(importer: str, imported: str) -> str | None:
    """Why importer may not import imported, or None when the import points the right way."""
    source, target = layer_of(importer), layer_of(imported)
    if source is None or target is None:
        return None  # test_every_module_has_a_layer names it
    (src_layer, src_group), (dst_layer, dst_group) = source, target
    if src_group == dst_group:
        return None
    if dst_layer == 1 and (src_group, dst_group) not in SURFACE_DOORS:
        return f"{importer} imports the surface {imported}"
    if dst_layer == 2 and src_layer == 2:
        return f"the stage {importer} imports the stage {imported}"
    if dst_layer < src_layer:
        return f"{importer} (layer {src_layer}) imports {imported} (layer {dst_layer}, higher)"
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = project_modules()
    known = set(modules)
    return {name: imported_modules(path.read_text(encoding="utf-8"), known) - {name}
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    assert [name for name in project_modules() if layer_of(name) is None] == []


def test_imports_point_down_the_layers() -> None:
    problems = [why for importer, imported in sorted(import_graph().items())
                for target in sorted(imported) if (why := wrong_way(importer, target))]
    assert problems == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_modules_stay_small() -> None:
    too_big = []
    for name, path in project_modules().items():
        if "migrations.versions" in name:
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > ONE_CONCEPT_MAX or (lines > MAX_LINES and ONE_CONCEPT not in docstring.lower()):
            too_big.append(f"{name}: {lines} lines")
    assert too_big == []


@pytest.mark.parametrize("importer, source, expected", [
    ("archive.status.http", "from archive.watch.check import check_sources", "layer 5) imports archive.watch"),
    ("archive.models", "def f():\n    from archive.cli.output import Output\n", "imports the surface archive.cli"),
    ("crawler.pipelines", "import archive.wayback.queue", "the stage crawler.pipelines imports the stage"),
    ("archive.api.read", "from scheduler import run_round", "imports the surface scheduler"),
    ("archive.net.http", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from archive.sources import X\n",
     "layer 4) imports archive.sources"),
])
def test_an_upward_import_is_caught(importer: str, source: str, expected: str) -> None:
    known = set(project_modules())
    problems = [why for target in imported_modules(source, known) if (why := wrong_way(importer, target))]
    assert len(problems) == 1 and expected in problems[0]


def test_downward_and_door_imports_pass() -> None:
    for importer, target in (("archive.cli.sources", "archive.sources"), ("archive.cli.serve", "archive.api"),
                             ("crawler.pipelines", "archive.captures"), ("archive.watch.check", "archive.status"),
                             ("scheduler", "archive.wayback"), ("archive.warc.writer", "archive.timefmt")):
        assert wrong_way(importer, target) is None, (importer, target)


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
