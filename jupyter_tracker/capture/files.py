"""Files the user's code reads through ``open``, pandas ``read_*`` or ``numpy.load``, in every cell.

From ``%load_ext`` on, the readers are wrapped for the whole kernel (pandas' and numpy's as
soon as the user imports them), so that a CSV loaded in an untracked setup cell is an input of the
runs that follow, marked with the cell that read it (issue 10). A file is fingerprinted when
the cell that read it ends: as it was read. Every file counts wherever it lies, beside the
store included; only the store's own files (the database, its journal, WAL and SHM files and
its artifacts folder), the Python installation, system pseudo-files and the tools' own
caches and settings (dot-folders of the home directory) are not data.
"""

from __future__ import annotations

import builtins
import functools
import os
import site
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from ..records import DataRef
from .imports import CellWatcher, after_import

_WRITE_MODES = set("wax+")
_SYSTEM_PREFIXES = ("/proc/", "/sys/", "/dev/")
_STORE_SUFFIXES = ("", "-wal", "-shm", "-journal")
# A kernel that reads a folder of ten thousand images should not give every later run ten thousand inputs.
MAX_EARLIER_FILES = 500


@dataclass(frozen=True)
class FileRead:
    shown: str  # the path as the user wrote it
    reader: str  # "open", "pandas.read_csv", "numpy.load", ...


class FileWatch(CellWatcher):
    """Kernel-wide watch of file reads (see ``file_watch()``): the current cell's, and earlier cells'."""

    def __init__(self) -> None:
        self.reads: dict[str, FileRead] = {}  # absolute path -> read, in the cell now running
        self.earlier: dict[str, DataRef] = {}  # absolute path -> fingerprinted input, read by an earlier cell
        self._active = threading.local()
        self._store_files: set[str] = set()
        self._store_folders: tuple[str, ...] = ()
        self._wrapped: set[str] = set()
        self._fingerprint: Callable[[str], Any] | None = None
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, *_site_folders()}
        home = os.path.expanduser("~")
        self._ignored = tuple(os.path.join(p, "") for p in prefixes) + _SYSTEM_PREFIXES
        self._home_dot = os.path.join(home, ".") if home not in ("", "/") else None

    # ------------------------------------------------------------ the store
    def skip_store(self, db_path: str | os.PathLike, artifacts_dir: str | os.PathLike) -> None:
        """Never count the files of this store as data (its database and artifacts; not its neighbours)."""
        db = os.path.abspath(os.fspath(db_path))
        self._store_files.update(db + suffix for suffix in _STORE_SUFFIXES)
        folder = os.path.join(os.path.abspath(os.fspath(artifacts_dir)), "")
        if folder not in self._store_folders:
            self._store_folders += (folder,)

    # ------------------------------------------------------------ recording
    @property
    def active(self) -> bool:
        return getattr(self._active, "on", False)

    @active.setter
    def active(self, value: bool) -> None:
        self._active.on = value

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Count reads while the user's code runs (and not while the tracker's own code does)."""
        before = self.active
        self.active = True
        try:
            yield
        finally:
            self.active = before

    def note(self, path: Any, reader: str) -> None:
        if not self.active or isinstance(path, int) or not isinstance(path, (str, bytes, os.PathLike)):
            return  # the tracker's own reads, file descriptors and buffers
        shown = os.fsdecode(os.fspath(path))
        if "://" in shown:
            return  # URLs are not local files
        absolute = os.path.abspath(shown)
        if absolute in self.reads or not self._is_data(absolute):
            return
        self.reads[absolute] = FileRead(shown, reader)

    def _is_data(self, absolute: str) -> bool:
        if absolute.startswith(self._ignored) or absolute in self._store_files:
            return False
        if self._store_folders and absolute.startswith(self._store_folders):
            return False
        if self._home_dot and absolute.startswith(self._home_dot):
            return False  # ~/.cache, ~/.config, ~/.ipython, ~/.matplotlib: the tools' files, not the user's data
        return os.path.isfile(absolute)

    def is_users(self, frame: Any) -> bool:
        """Whether ``frame`` runs the user's code (not the Python installation's, not a library's)."""
        filename = frame.f_code.co_filename
        return not filename.startswith(self._ignored) and not filename.startswith("<frozen")

    def take(self) -> dict[str, FileRead]:
        """The reads of the cell that is ending, forgotten here."""
        reads, self.reads = self.reads, {}
        return reads

    def remember(self, refs: dict[str, DataRef], cell: str) -> None:
        """Inputs read by a finished cell become inputs of every later run, marked with that cell."""
        for absolute, ref in refs.items():
            self.earlier.pop(absolute, None)  # the latest read goes last
            self.earlier[absolute] = replace(ref, location=cell or ref.location)
        while len(self.earlier) > MAX_EARLIER_FILES:
            self.earlier.pop(next(iter(self.earlier)))

    # ------------------------------------------------------------ installing
    def attach(self, shell: Any, fingerprint: Callable[[str, FileRead], DataRef]) -> None:
        """From ``%load_ext`` on; ``fingerprint`` turns a read into an input (called as the cell ends)."""
        self._fingerprint = fingerprint
        self._follow(shell)
        self.install(shell.user_ns)
        for library in ("pandas", "numpy"):
            after_import(library, self._imported)

    def _imported(self, module: Any) -> None:
        self.install()

    def _pre_run_cell(self, info: Any) -> None:
        self.reads = {}
        try:
            self.install(self._shell.user_ns)
        except Exception:  # noqa: BLE001  (a hook must never disturb the user's cell)
            pass
        self.active = True

    def _post_run_cell(self, result: Any) -> None:
        self.active = False
        reads = self.take()
        if not reads or self._fingerprint is None:
            return
        try:
            self.remember({path: self._fingerprint(path, read) for path, read in reads.items()}, self.cell)
        except Exception:  # noqa: BLE001
            pass

    def install(self, namespace: dict[str, Any] | None = None) -> None:
        """Wrap the readers imported so far (idempotent); ``namespace`` is the user's, with IPython's ``open``."""
        _wrap(builtins, "open", "open", _is_read_mode, self)
        if namespace is not None and "open" in namespace:
            _wrap(_Namespace(namespace), "open", "open", _is_read_mode, self)
        pandas = sys.modules.get("pandas")
        if pandas is not None and "pandas" not in self._wrapped and hasattr(pandas, "read_csv"):
            for name in _pandas_readers(pandas):
                _wrap(pandas, name, f"pandas.{name}", None, self)
            self._wrapped.add("pandas")
        numpy = sys.modules.get("numpy")
        if numpy is not None and "numpy" not in self._wrapped and hasattr(numpy, "load"):
            for name in ("load", "loadtxt", "genfromtxt", "fromfile"):
                if hasattr(numpy, name):
                    _wrap(numpy, name, f"numpy.{name}", None, self)
            self._wrapped.add("numpy")


_WATCH: FileWatch | None = None


def file_watch() -> FileWatch:
    """The process's one FileWatch: the readers it wraps are process-wide too."""
    global _WATCH
    if _WATCH is None:
        _WATCH = FileWatch()
    return _WATCH


def _wrap(module: Any, attribute: str, reader: str, accepts: Callable[..., bool] | None, watch: FileWatch) -> None:
    original = getattr(module, attribute)
    if getattr(original, "__jupyter_tracker_wraps__", None) is not None:
        return

    def reading(*args: Any, **kwargs: Any) -> Any:
        # A plain open() counts when the user's code calls it (a cell, or a module of theirs); libraries
        # open time-zone files, caches and settings of their own (seen: pandas reading zoneinfo, issue 10).
        # The data readers count from anywhere: they read what the user asked for.
        if watch.active and (accepts is None or (accepts(*args, **kwargs) and watch.is_users(sys._getframe(1)))):
            path = args[0] if args else next(iter(kwargs.values()), None)
            watch.note(path, reader)
        return original(*args, **kwargs)

    reading.__jupyter_tracker_wraps__ = original  # type: ignore[attr-defined]
    reading.__wrapped__ = original  # type: ignore[attr-defined]
    reading.__doc__ = original.__doc__
    reading.__name__ = getattr(original, "__name__", attribute)
    setattr(module, attribute, reading)


@functools.lru_cache(maxsize=2)
def _pandas_readers(pandas: Any) -> tuple[str, ...]:
    return tuple(name for name in dir(pandas) if name.startswith("read_") and callable(getattr(pandas, name, None)))


def _site_folders() -> list[str]:
    folders = []
    try:
        folders += site.getsitepackages()
    except AttributeError:  # some virtualenv builds of site lack it
        pass
    user_site = getattr(site, "USER_SITE", None)
    if user_site:
        folders.append(user_site)
    return folders


class _Namespace:
    """Attribute access to a namespace dict, so that a dict entry is wrapped like a module attribute."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        object.__setattr__(self, "_namespace", namespace)

    def __getattr__(self, name: str) -> Any:
        return self._namespace[name]

    def __setattr__(self, name: str, value: Any) -> None:
        self._namespace[name] = value


def _is_read_mode(file: Any = None, mode: str = "r", *args: Any, **kwargs: Any) -> bool:
    mode = kwargs.get("mode", mode)
    return isinstance(mode, str) and not (set(mode) & _WRITE_MODES)
