"""Following the kernel: a callback right after a library is first imported (before the importing
code goes on), and a base for watchers that follow every cell.

``import numpy as np; np.random.seed(1)`` and ``import pandas as pd; pd.read_csv(...)`` are
usually written in one cell: wrapping the library's seeding and reading functions only after
that cell would miss both (issue 10). A finder on ``sys.meta_path`` hands the import to the
normal machinery and calls the callback once the module has executed.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from typing import Any, Callable

Callback = Callable[[Any], None]


class _AfterImport(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callback]] = {}
        self._finding = threading.local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.callbacks or getattr(self._finding, "name", None) == fullname:
            return None
        self._finding.name = fullname  # the normal finders, not this one, find the module itself
        try:
            spec = importlib.util.find_spec(fullname)
        except (ImportError, ValueError):
            return None
        finally:
            self._finding.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(spec.loader, self.callbacks[fullname])
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, callbacks: list[Callback]) -> None:
        self.loader = loader
        self.callbacks = callbacks

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        # Later imports of the module find it in sys.modules; its spec keeps the real loader.
        module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        for callback in list(self.callbacks):
            try:
                callback(module)
            except Exception:  # noqa: BLE001  (the user's import must succeed whatever the tracker does)
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


_FINDER = _AfterImport()


def after_import(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``name`` is imported (at once if it already is)."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    callbacks = _FINDER.callbacks.setdefault(name, [])
    if callback not in callbacks:
        callbacks.append(callback)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


class CellWatcher:
    """Follows every cell of one kernel: ``_pre_run_cell`` and ``_post_run_cell`` are called around each,
    with ``self.cell`` the label of the cell running ("In [3]"). Seeds and file reads are watched so."""

    cell = ""
    _shell: Any = None

    def _follow(self, shell: Any) -> None:
        if self._shell is not shell:
            self.detach()
            self._shell = shell
            shell.events.register("pre_run_cell", self._starting)
            shell.events.register("post_run_cell", self._post_run_cell)

    def detach(self) -> None:
        """Stop following the kernel's cells (the wrapped functions stay wrapped)."""
        if self._shell is not None:
            for event, callback in (("pre_run_cell", self._starting), ("post_run_cell", self._post_run_cell)):
                try:
                    self._shell.events.unregister(event, callback)
                except ValueError:
                    pass
            self._shell = None

    def _starting(self, info: Any) -> None:
        count = getattr(self._shell, "execution_count", None)
        self.cell = f"In [{count}]" if count is not None else ""
        self._pre_run_cell(info)

    def _pre_run_cell(self, info: Any) -> None:
        raise NotImplementedError

    def _post_run_cell(self, result: Any) -> None:
        raise NotImplementedError
