"""Reproducing: ``rerun``, ``batch`` and ``report``, over papermill (the engine) and the store.

This floor sits above the api: it executes notebooks, which the api never does. The public
functions are re-exported by ``jupyter_tracker``; the submodules are named for what they hold
(``rerun.py`` holds ``rerun``), and importing the functions here makes ``repro.rerun`` the function.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from ..store import open_store
from .batch import run_batch
from .engine import in_replay
from .report import BatchReport, build_report
from .rerun import rerun as run_rerun
from .verdict import Verdict

__all__ = ["batch", "report", "rerun"]


def rerun(
    run_id: str, repeat: int = 1, rtol: float | None = None, atol: float | None = None, *,
    kernel_name: str = "python3", timeout: float | None = None, workers: int = 1, progress: bool = True,
    on_progress: Callable[[int, int], None] | None = None, db: str | os.PathLike | None = None,
    strict: bool = False,
) -> Verdict | None:
    """Re-execute a run from its recorded execution history in fresh kernels and say whether it reproduced.

    Output columns that are timings are reported but do not make it DIFFER unless ``strict``.

    For example::

        verdict = rerun("1a2b", repeat=3)
        verdict.status, verdict.exit_code      # ("REPRODUCED", 0) or ("DIFFERS", 1)
    """
    if in_replay():
        _replay_skip("rerun")
        return None
    return run_rerun(open_store(db, create=False), run_id, repeat=repeat, rtol=rtol, atol=atol,
                        kernel_name=kernel_name, timeout=timeout, workers=workers, progress=progress,
                        on_progress=on_progress, strict=strict)


def batch(
    notebook: str | os.PathLike, parameters: dict[str, Any] | None = None,
    grid: dict[str, list[Any]] | None = None, repeat: int = 1, workers: int | None = None,
    output_dir: str | os.PathLike | None = None, *, scheduler: str | None = None,
    rtol: float | None = None, atol: float | None = None, kernel_name: str = "python3",
    timeout: float | None = None, progress: bool = True, db: str | os.PathLike | None = None,
    strict: bool = False,
) -> BatchReport | None:
    """Execute a notebook for every grid combination x repeat with papermill, in parallel; return the report.

    For example::

        report = batch("train.ipynb", grid={"max_depth": [3, 5]}, repeat=2, workers=2)
        report.metrics_frame()
    """
    if in_replay():
        _replay_skip("batch")
        return None
    store = open_store(db)
    batch_id, results = run_batch(store, notebook, parameters=parameters, grid=grid, repeat=repeat, workers=workers,
                                  output_dir=output_dir, scheduler=scheduler, kernel_name=kernel_name,
                                  timeout=timeout, progress=progress)
    output = os.path.dirname(results[0].execution.output) if results else None
    return build_report(store, batch_id, rtol=rtol, atol=atol, output_dir=output, strict=strict)


def report(batch_id: str, rtol: float | None = None, atol: float | None = None,
           db: str | os.PathLike | None = None, strict: bool = False) -> BatchReport:
    """The report of an earlier batch, from the store.

    For example::

        print(report("3f2a1b0c9d8e"))
    """
    return build_report(open_store(db, create=False), batch_id, rtol=rtol, atol=atol, strict=strict)


def _replay_skip(what: str) -> None:
    # The replayed history may contain the very call that started the replay: never recurse.
    print(f"jupyter_tracker warning: {what}() skipped inside a rerun replay", file=sys.stderr)
