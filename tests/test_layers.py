"""The house rule: data flows one way, sources -> crawler -> archive storage -> watch -> surfaces.

Every module's imports (module level, lazy and TYPE_CHECKING ones alike) are read from its AST and must point
down the layers of ../shared/design/layout.md, never up and never from one stage to another; modules form no
import cycle; a module over 400 lines says in its docstring that it holds one concept, and none passes 650.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES, ONE_CONCEPT_MAX = 400, 650
ONE_CONCEPT = "one concept"
# Libraries slow to import that no command may load before it runs: they stay inside the functions that use them.
HEAVY = ("boto3", "apprise", "yt_dlp", "trafilatura", "uvicorn", "scrapy", "playwright", "celery")

# (layer, group): a lower layer number is higher in the house. Groups of one layer never import one another
# (the stages of layer 2, the sub-layers' members of 4), except the surfaces' doors below.
LAYERS: dict[str, tuple[float, str]] = {
    "archive.cli": (1, "cli"), "archive.api": (1, "api"), "scheduler": (1, "scheduler"),
    "archive.tasks": (1, "tasks"),  # Celery tasks run the stages for the scheduler, as the CLI does
    "crawler": (2, "crawler"), "archive.watch": (2, "watch"), "archive.wayback": (2, "wayback"),
    # Rooms for this wave, before they are built: footage fingerprints and words (captions, transcripts, on-screen
    # text) read stored media and write their own tables, stages of their own; research holds the read-side
    # queries (timeline, as-of, search, diff, report) the API and CLI share. crawler/requisites.py and
    # crawler/browser/ are the crawler's.
    "archive.footage": (2, "footage"), "archive.words": (2, "words"),
    **{f"archive.{name}": (3, "io") for name in ("sources", "captures", "due", "providers.info", "report", "tokens",
                                                 "spawn", "export", "research", "kept_media")},
    # Infrastructure, ordered: evidence works on a workspace, which opens the database and the storage the settings
    # name; those and the net need the settings at most; the settings and the WARC format need none of layer 4.
    "archive.evidence": (4.1, "evidence"), "archive.workspace": (4.2, "workspace"),
    **{f"archive.{name}": (4.3, "database") for name in ("db", "models", "migrations", "tally")},
    **{f"archive.{name}": (4.3, name) for name in ("locks", "storage", "net")},
    **{f"archive.{name}": (4.4, name) for name in ("config", "warc")},
    # Providers: what each video site's URLs look like and how it says a video is gone (pure); info fetches.
    **{f"archive.{name}": (5, "pure") for name in ("status", "extract", "providers", "urls", "vocab", "timefmt",
                                                   "errors", "lazy")},
}
PACKAGE = ("archive", (5, "pure"))  # the package itself holds __version__ only; it is no prefix of the others
# The command line is the door to the other surfaces (`serve`, `schedule`, `worker`); the scheduler hands work to
# tasks; the API's /metrics shows what the tasks' workers are doing, as `lastseen workers` does.
SURFACE_DOORS = {("cli", "api"), ("cli", "scheduler"), ("cli", "tasks"), ("scheduler", "tasks"), ("api", "tasks")}


def layer_of(module: str) -> tuple[float, str] | None:
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
    """The project modules a source imports anywhere in it.

    `from a import b` counts a (it runs and is read) and a.b too when b is a module.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update({f"{node.module}.{alias.name}" for alias in node.names} & known)
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
    if dst_layer == src_layer and dst_layer != 1:
        return f"{importer} imports {imported}, its sibling in layer {src_layer}"
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


def with_parent_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph with each imported module's packages too (Python runs them first), but not the importer's own."""
    def packages(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:end]) for end in range(1, len(parts))}

    return {name: imported | {package for target in imported for package in packages(target)
                              if package in graph and package not in packages(name)} - {name}
            for name, imported in graph.items()}


def test_no_import_cycles() -> None:
    """None as written, and none counting the packages Python initializes on the way to a module."""
    graph = import_graph()
    assert cycles(graph) == []
    assert cycles(with_parent_packages(graph)) == []


def test_the_command_table_is_imports_the_layer_test_follows() -> None:
    commands = {name for name in import_graph()["archive.cli"] if name.startswith("archive.cli.")}
    assert {"archive.cli.sources", "archive.cli.check", "archive.cli.serve", "archive.cli.worker"} <= commands


def test_building_the_command_line_loads_no_heavy_library() -> None:
    """Every command module is imported to build the parser, so each keeps its heavy imports inside handlers."""
    probe = ("import sys\nfrom archive.cli import build_parser\nbuild_parser()\n"
             f"print(' '.join(sorted(set({HEAVY!r}) & {{name.split('.')[0] for name in sys.modules}})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == []


def bare_skips(path: Path) -> list[str]:
    """Where a test file skips other than through conftest's _need: pytest.skip/importorskip, skip marks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed = {id(node) for function in ast.walk(tree) if isinstance(function, ast.FunctionDef)
               and function.name == "_need" and path.name == "conftest.py" for node in ast.walk(function)}
    found = []
    for node in ast.walk(tree):
        name = node.attr if isinstance(node, ast.Attribute) else node.name if isinstance(node, ast.alias) else ""
        if name in {"skip", "skipif", "importorskip"} and id(node) not in allowed:
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            found.append(f"{shown}:{getattr(node, 'lineno', '?')}")
    return found


def test_tests_skip_only_through_need() -> None:
    """A test needing a real tool skips on a laptop and fails in CI (_need); a bare skip would pass CI unseen."""
    assert [where for path in sorted((ROOT / "tests").rglob("*.py")) for where in bare_skips(path)] == []


@pytest.mark.parametrize("source", ["pytest.skip('no pywb')", "api = pytest.importorskip('playwright')",
                                    "@pytest.mark.skipif(True, reason='x')\ndef test_x():\n    pass",
                                    "from pytest import importorskip"])
def test_a_bare_skip_is_found(tmp_path: Path, source: str) -> None:
    planted = tmp_path / "conftest.py"  # even in a conftest, outside _need
    planted.write_text(f"import pytest\n\n{source}\n", encoding="utf-8")
    assert bare_skips(planted) == [f"{planted}:3"]


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
     "layer 4.3) imports archive.sources"),
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


@pytest.mark.parametrize("importer, imported, expected", [
    ("archive.config", "archive.workspace", "archive.config (layer 4.4) imports archive.workspace (layer 4.2"),
    ("archive.warc.writer", "archive.db", "archive.warc.writer (layer 4.4) imports archive.db (layer 4.3"),
    ("archive.warc.index", "archive.evidence.custody", "(layer 4.4) imports archive.evidence.custody (layer 4.1"),
    ("archive.workspace", "archive.evidence", "archive.workspace (layer 4.2) imports archive.evidence (layer 4.1"),
    ("archive.models", "archive.storage", "archive.models imports archive.storage, its sibling in layer 4.3"),
    ("archive.net.http", "archive.locks", "archive.net.http imports archive.locks, its sibling in layer 4.3"),
    ("archive.config", "archive.warc", "archive.config imports archive.warc, its sibling in layer 4.4"),
])
def test_layer_four_is_ordered(importer: str, imported: str, expected: str) -> None:
    assert expected in (wrong_way(importer, imported) or "")


def test_layer_four_imports_down_its_order_pass() -> None:
    for importer, target in (("archive.evidence.verify", "archive.workspace"), ("archive.evidence.stamping",
                                                                                 "archive.db"),
                             ("archive.workspace", "archive.storage"), ("archive.storage", "archive.config"),
                             ("archive.tally", "archive.models"), ("archive.migrations.env", "archive.models"),
                             ("archive.net.http", "archive.config"), ("archive.export", "archive.evidence")):
        assert wrong_way(importer, target) is None, (importer, target)


def test_importing_a_module_from_its_package_counts_the_package() -> None:
    known = set(project_modules())
    assert imported_modules("from archive.providers import direct", known) == {"archive.providers",
                                                                                "archive.providers.direct"}
    assert imported_modules("from archive.providers.direct import recognize", known) == {"archive.providers.direct"}


def test_the_rooms_for_this_wave_point_the_right_way() -> None:
    refused = {("archive.watch.check", "archive.footage.match"): "the stage archive.watch.check imports the stage",
               ("crawler.media", "archive.words.transcripts"): "the stage crawler.media imports the stage",
               ("archive.research.search", "archive.footage.index"): "(layer 3) imports archive.footage.index"}
    for (importer, target), why in refused.items():
        assert why in (wrong_way(importer, target) or ""), (importer, target)
    for importer, target in (("archive.api.read", "archive.research.timeline"),
                             ("archive.cli.sources", "archive.research.report"),
                             ("archive.footage.frames", "archive.storage"), ("archive.research.diff", "archive.models"),
                             ("crawler.browser.recorder", "archive.warc"), ("crawler.requisites", "archive.extract"),
                             ("archive.words.transcripts", "archive.captures")):
        assert wrong_way(importer, target) is None, (importer, target)


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    through_a_package = {"p": {"p.y"}, "p.x": set(), "p.y": {"q"}, "q": {"p.x"}}  # importing p.x runs p first
    assert cycles(through_a_package) == []
    assert cycles(with_parent_packages(through_a_package)) == [["p", "p.y", "q"]]
