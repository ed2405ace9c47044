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
