"""Files a tracked cell reads through ``open``, pandas ``read_*`` or ``numpy.load``.

The readers are wrapped only while a tracked cell runs; the files they opened are
fingerprinted when the cell ends. Library files (under the Python installation), system
pseudo-files and the tracker's own store are not data.
"""

from __future__ import annotations

import builtins
import functools
import os
import sys
from typing import Any, Callable

_WRITE_MODES = set("wax+")
_SYSTEM_PREFIXES = ("/proc/", "/sys/", "/dev/")


class FileReads:
    """Collects ``{absolute path: (path as written, reader)}`` during one cell."""

    def __init__(self, ignore_dir: str | None = None) -> None:
        self.reads: dict[str, tuple[str, str]] = {}
        self._restore: list[tuple[Any, str, Any]] = []
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
        self._ignored = tuple(os.path.join(p, "") for p in prefixes) + _SYSTEM_PREFIXES
        if ignore_dir:
            self._ignored += (os.path.join(os.path.abspath(ignore_dir), ""),)

    def note(self, path: Any, reader: str) -> None:
        if isinstance(path, int) or not isinstance(path, (str, bytes, os.PathLike)):
            return  # file descriptors and buffers have no name to record
        shown = os.fsdecode(os.fspath(path))
        if "://" in shown:
            return  # URLs are not local files
        absolute = os.path.abspath(shown)
        if absolute in self.reads or absolute.startswith(self._ignored) or not os.path.isfile(absolute):
            return
        self.reads[absolute] = (shown, reader)

    def install(self, namespace: dict[str, Any] | None = None) -> None:
        """Wrap the readers; ``namespace`` is the user's, where IPython puts its own ``open``."""
        self._patch(builtins, "open", "open", _is_read_mode)
        if namespace is not None and "open" in namespace:
            self._patch(_Namespace(namespace), "open", "open", _is_read_mode)
        pandas = sys.modules.get("pandas")
        if pandas is not None:
            for name in _pandas_readers(pandas):
                self._patch(pandas, name, f"pandas.{name}", None)
        numpy = sys.modules.get("numpy")
        if numpy is not None:
            for name in ("load", "loadtxt", "genfromtxt", "fromfile"):
                if hasattr(numpy, name):
                    self._patch(numpy, name, f"numpy.{name}", None)

    def uninstall(self) -> None:
        while self._restore:
            module, attribute, original = self._restore.pop()
            setattr(module, attribute, original)

    def _patch(self, module: Any, attribute: str, reader: str, accepts: Callable[..., bool] | None) -> None:
        original = getattr(module, attribute)
        reads = self

        def reading(*args: Any, **kwargs: Any) -> Any:
            path = args[0] if args else next(iter(kwargs.values()), None)
            if accepts is None or accepts(*args, **kwargs):
                reads.note(path, reader)
            return original(*args, **kwargs)

        reading.__wrapped__ = original  # type: ignore[attr-defined]
        reading.__doc__ = original.__doc__
        reading.__name__ = getattr(original, "__name__", attribute)
        self._restore.append((module, attribute, original))
        setattr(module, attribute, reading)


@functools.lru_cache(maxsize=2)
def _pandas_readers(pandas: Any) -> tuple[str, ...]:
    # Listing pandas' namespace took a tenth of a millisecond on every tracked cell (issue 7): once per module.
    return tuple(name for name in dir(pandas) if name.startswith("read_") and callable(getattr(pandas, name, None)))


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
