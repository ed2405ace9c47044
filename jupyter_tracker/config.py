"""Where the store lives: one resolution order, computed once per call site.

Order: explicit argument, then ``JUPYTER_TRACKER_DB``, then the nearest ancestor of the
working directory holding a ``.jupyter_tracker/`` folder, then the working directory.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

STORE_DIR = ".jupyter_tracker"
STORE_FILE = "tracker.db"
ENV_DB = "JUPYTER_TRACKER_DB"
# Set by rerun and batch for the kernels they start: which session the runs belong to, and
# tags (JSON object) every run of that kernel carries.
ENV_SESSION = "JUPYTER_TRACKER_SESSION"
ENV_TAGS = "JUPYTER_TRACKER_TAGS"


@dataclass(frozen=True)
class Settings:
    db_path: Path
    artifacts_dir: Path


def resolve_settings(db: str | os.PathLike | None = None, cwd: str | os.PathLike | None = None) -> Settings:
    """Resolve the store path.

    >>> resolve_settings("/tmp/x/runs.db").artifacts_dir
    PosixPath('/tmp/x/artifacts')
    """
    if db is None:
        db = os.environ.get(ENV_DB) or None
    if db is not None:
        db = os.fspath(db)
        return _explicit_settings(db, os.getcwd(), os.environ.get("HOME") if db.startswith("~") else None)
    start = Path(cwd or os.getcwd()).absolute()
    for folder in (start, *start.parents):
        if (folder / STORE_DIR).is_dir():
            root = folder / STORE_DIR
            break
    else:
        root = start / STORE_DIR
    return Settings(db_path=root / STORE_FILE, artifacts_dir=root / "artifacts")


@functools.lru_cache(maxsize=64)
def _explicit_settings(db: str, cwd: str, home: str | None) -> Settings:
    # Every tracked cell resolves its store: a named file resolves the same way until the working
    # directory (or, for ~/..., the home) changes; pathlib made this a tenth of a millisecond a cell (issue 7).
    db_path = Path(db).expanduser().absolute()
    # An explicit file keeps its artifacts beside it, not in some .jupyter_tracker/.
    return Settings(db_path=db_path, artifacts_dir=db_path.parent / "artifacts")
