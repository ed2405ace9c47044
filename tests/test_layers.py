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
    # rerun() and batch() are public functions, so their papermill engine is execution.py, not rerun.py.
    "papermill": "execution.py",
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
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [target] if node.module else [[*target, alias.name] for alias in node.names]
            found.update("/".join(name) for name in names)
    return found


def test_sync_sits_above_the_api():
    # sync may import the api, the store and the records; the api and what lies below it never import sync.
    below = [p for p in sorted(PACKAGE.rglob("*.py"))
             if p.relative_to(PACKAGE).as_posix().split("/")[0] in ("api.py", "store", "capture", "records.py",
                                                                      "errors.py", "config.py", "recorder.py")]
    offenders = [f"{p.relative_to(PACKAGE).as_posix()} imports {m}" for p in below
                 for m in relative_imports(p) if m == "sync" or m.startswith("sync/")]
    assert below and offenders == []
