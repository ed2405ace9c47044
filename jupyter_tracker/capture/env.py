"""The environment a run executed in: Python, imported packages, OS, host, notebook, git.

Looking all of this up costs tens of milliseconds, far more than a tracked cell may add, so
each part is cached and only recomputed when it can have changed: package versions when new
top-level modules were imported, git state when HEAD, the index or the tracked files moved.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

_STDLIB = set(sys.stdlib_module_names) | {"__main__", "builtins", "_frozen_importlib", "_frozen_importlib_external"}
_GIT_RECHECK_SECONDS = 5.0


class EnvironmentProbe:
    """Caches the environment for one kernel; ``snapshot()`` is cheap after the first call."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # when the git state was last read: tests move it instead of sleeping
        self._versions: dict[str, str] = {}
        self._seen_modules: set[str] = set()
        self._module_count = -1
        self._packages: dict[str, str] = {}
        self._git: dict[str, Any] = {}
        self._git_key: tuple | None = None
        self._git_checked = 0.0
        self._root: tuple[str, float, tuple[str, Path, Path] | None] = ("", 0.0, None)  # cwd, when, repository
        self._static = {
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "os": f"{platform.system()} {platform.release()}",
            "machine": platform.machine(),
            "host": socket.gethostname(),
        }

    def snapshot(self, notebook: str | None = None) -> dict[str, Any]:
        cwd = os.getcwd()
        return {
            **self._static,
            "cwd": cwd,
            "notebook": notebook,
            "packages": self.packages(),
            "git": self.git(cwd),
        }

    def packages(self) -> dict[str, str]:
        """Versions of the third-party top-level modules imported so far."""
        # Modules are almost never unloaded, so an unchanged count means nothing new was imported:
        # scanning sys.modules (2,000 names in a data-science kernel) is then skipped (issue 7).
        if len(sys.modules) != self._module_count:
            self._module_count = len(sys.modules)
            top_level = {name.partition(".")[0] for name in list(sys.modules)}
            for name in top_level - self._seen_modules:
                if name in _STDLIB or name.startswith("_"):
                    continue
                version = _module_version(name)
                if version:
                    self._versions[name] = version
            self._seen_modules |= top_level
            self._packages = dict(sorted(self._versions.items()))
        return dict(self._packages)

    def git(self, cwd: str) -> dict[str, Any]:
        """Commit, branch and dirty flag of the repository holding ``cwd``, if any."""
        now = self.clock()
        # Which repository holds cwd is looked up again only after the same delay as its state: walking up
        # the folders costs more than the rest of a snapshot (issue 7).
        if self._root[0] != cwd or now - self._root[1] >= _GIT_RECHECK_SECONDS:
            found = _git_root(Path(cwd))
            self._root = (cwd, now, None if found is None else (
                str(found), found / ".git" / "HEAD", found / ".git" / "index"))
        repository = self._root[2]
        if repository is None:
            return {}
        root = Path(repository[0])
        key = (repository[0], *_mtimes(*repository[1:]))
        if key == self._git_key and now - self._git_checked < _GIT_RECHECK_SECONDS:
            return self._git
        self._git = _read_git(root)
        self._git_key, self._git_checked = key, now
        return self._git


_shared_probe: EnvironmentProbe | None = None


def shared_probe() -> EnvironmentProbe:
    """The process's probe, so that every ``start_run`` block shares its caches: a new probe looks up
    the version of every imported package again (15 ms with pandas and MLflow imported, issue 7)."""
    global _shared_probe
    if _shared_probe is None:
        _shared_probe = EnvironmentProbe()
    return _shared_probe


def _module_version(name: str) -> str | None:
    module = sys.modules.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some packages deprecate __version__ with a warning
        version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        from importlib import metadata  # 10 ms of imports (email.*): paid at the first snapshot, not at %load_ext

        return metadata.version(name)
    except (ImportError, ValueError):  # metadata.PackageNotFoundError is an ImportError
        return None


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _mtimes(*paths: Path) -> tuple:
    stamps = []
    for path in paths:
        try:
            stamps.append(path.stat().st_mtime_ns)
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def _read_git(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "root": str(root),
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": None if status is None else bool(status),
    }
