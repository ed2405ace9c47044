"""Import boundaries: only the store speaks SQL; only the server speaks tornado; papermill in one place."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_tracker"

# module prefix -> the only part of the package allowed to import it
OWNERS = {
    "sqlite3": "store/",
    "sqlite_utils": "store/",
    "tornado": "server/",
    "jupyter_server": "server/",
    "papermill": "repro/engine.py",
    "matplotlib": "views/",
    "ipywidgets": "views/",
    # push (issue 15): MLflow is an optional extra, imported by sync/ alone, and only when pushing.
    "mlflow": "sync/",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_each_library_is_imported_only_by_its_owning_layer():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for module in imported_modules(path):
            owner = OWNERS.get(module)
            if owner is not None and not relative.startswith(owner):
                offenders.append(f"{relative} imports {module} (only {owner} may)")
    assert offenders == []


def relative_imports(path: Path) -> set[str]:
    """The package's own modules a file imports (``from .sync import x``, ``from ..api import y``), as
    paths relative to the package: ``sync``, ``api``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(PACKAGE).parent.parts
    found = set()
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue  # annotations only: no arrow at run time
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [target] if node.module else [[*target, alias.name] for alias in node.names]
            found.update("/".join(name) for name in names)
    return found


# The floors of DESIGN "Layout", top to bottom. A module may import its own floor's modules of the same
# package, and any floor below its own; never one above (docs/architecture.md).
FLOORS = [
    {"magics.py", "cli.py", "server", "__init__.py", "__main__.py"},  # the faces
    {"repro", "sync", "views"},
    {"api.py"},
    {"capture", "models"},
    {"store"},
    {"records.py", "render.py", "errors.py", "config.py"},  # the ground floor
]
# The one arrow between neighbours on a floor, and why.
SIDEWAYS = {
    ("repro/report.py", "views"): "the batch report's HTML page embeds the charts views draw (matplotlib, lazily)",
}


def floor_of(unit: str) -> int:
    return next(i for i, units in enumerate(FLOORS) if unit in units)


def module_path(target: str) -> str:
    """The module a relative import names: ``capture/cell``; a name inside a module (``api/log_metric``)
    is its module (``api``); a name of the package itself (``__version__``) is ``__init__``."""
    while target:
        if (PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").exists():
            return target
        target = target.rpartition("/")[0]
    return "__init__"


def unit_of(module: str) -> str:
    """The floor's unit a module belongs to: ``capture/cell`` -> ``capture``; ``api`` -> ``api.py``."""
    first = module.split("/")[0]
    return first if (PACKAGE / first).is_dir() else f"{first}.py"


def test_arrows_between_the_package_layers_point_down_only():
    upward, sideways = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("labextension/"):
            continue
        mine = unit_of(relative.removesuffix(".py"))
        for target in relative_imports(path):
            theirs = unit_of(module_path(target))
            if theirs == mine:
                continue  # within one package
            if floor_of(theirs) < floor_of(mine):
                upward.append(f"{relative} imports {target} ({theirs} is above {mine})")
            elif (relative, theirs) in SIDEWAYS:
                continue
            elif floor_of(theirs) == floor_of(mine) and floor_of(mine) not in (0, len(FLOORS) - 1):
                sideways.append(f"{relative} imports {target} (beside it, on the floor of {mine})")
    assert upward == []
    assert sideways == []


def test_there_is_no_import_cycle_in_the_package():
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("labextension/"):
            continue
        module = relative.removesuffix(".py").removesuffix("/__init__").removesuffix("__init__")
        targets = {module_path(t).removesuffix("/__init__").removesuffix("__init__") for t in relative_imports(path)}
        edges[module] = {t for t in targets if t != module}
    # A package's __init__ importing its own submodules is how packages re-export: not a cycle.
    edges = {m: {t for t in ts if not t.startswith(m + "/")} for m, ts in edges.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]) if nxt in trail else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def test_sync_sits_above_the_api():
    # sync may import the api, the store and the records; the api and what lies below it never import sync.
    below = [p for p in sorted(PACKAGE.rglob("*.py"))
             if p.relative_to(PACKAGE).as_posix().split("/")[0] in ("api.py", "store", "capture", "models", "records.py",
                                                                      "render.py", "errors.py", "config.py")]
    offenders = [f"{p.relative_to(PACKAGE).as_posix()} imports {m}" for p in below
                 for m in relative_imports(p) if m == "sync" or m.startswith("sync/")]
    assert below and offenders == []
