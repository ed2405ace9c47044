"""The Python API: the one façade that the magics, the CLI, the widgets and the server call.

>>> import jupyter_tracker as jt
>>> with jt.start_run("train", experiment="churn"):
...     jt.log_params({"n_estimators": 200})
...     jt.log_metric("acc", 0.91)
>>> jt.runs(experiment="churn")[["name", "params.n_estimators", "metrics.acc"]]
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .config import resolve_settings
from .errors import NoActiveRun, StoreError, UsageProblem
from .recorder import Recorder
from .records import Run
from .store import DoctorCheck, Store

if TYPE_CHECKING:
    import pandas

    from .comparison import Comparison

_stores: dict[Path, Store] = {}
_active: list[Recorder] = []  # innermost last: a start_run block inside a tracked cell wins


def open_store(db: str | os.PathLike | None = None, create: bool = True) -> Store:
    """The store at ``db`` (or the resolved default), opened once per process and path."""
    path = resolve_settings(db).db_path
    store = _stores.get(path)
    if store is None or (not path.exists()):
        store = Store(path, create=create)
        _stores[path] = store
    return store


def active_recorder(what: str) -> Recorder:
    if not _active:
        raise NoActiveRun(what)
    return _active[-1]


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    """Make ``recorder`` the target of log_* calls for the duration of the block."""
    _active.append(recorder)
    try:
        yield recorder
    finally:
        _active.remove(recorder)


# ------------------------------------------------------------------- logging
def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Log one metric value (optionally at a step) to the active run.

    >>> log_metric("loss", 0.31, step=10)
    """
    active_recorder("log_metric").log_metrics({name: value}, step)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Log several metric values at once (optionally at one step) to the active run."""
    if not isinstance(metrics, dict):
        raise UsageProblem(f"log_metrics() takes a dict of name -> number, got {type(metrics).__name__}")
    active_recorder("log_metrics").log_metrics(metrics, step)


def log_param(name: str, value: Any) -> None:
    """Record one parameter of the active run."""
    active_recorder("log_param").log_params({name: value})


def log_params(params: dict[str, Any]) -> None:
    """Record several parameters of the active run."""
    if not isinstance(params, dict):
        raise UsageProblem(f"log_params() takes a dict of name -> value, got {type(params).__name__}")
    active_recorder("log_params").log_params(params)


def set_tag(key: str, value: Any) -> None:
    """Tag the active run (``key=value``)."""
    active_recorder("set_tag").set_tag(key, value)


@contextmanager
def start_run(
    name: str, experiment: str | None = None, tags: dict[str, Any] | None = None, db: str | os.PathLike | None = None
) -> Iterator[Recorder]:
    """Record a run from a plain script: params, metrics, seeds, code, environment and outcome.

    >>> with start_run("train", experiment="churn") as run:
    ...     log_metric("acc", 0.9)
    >>> run.run_id
    """
    from .capture.env import EnvironmentProbe
    from .capture.seeds import seed_hooks

    recorder = Recorder(open_store(db), name, experiment, source="script", tags=tags)
    seeds = seed_hooks()
    seeds.begin(recorder.seeds, user_globals=sys.modules["__main__"].__dict__)
    status, error = "finished", None
    try:
        with recording(recorder):
            yield recorder
    except KeyboardInterrupt as exc:
        status, error = "interrupted", exc
        raise
    except BaseException as exc:
        status, error = "failed", exc
        raise
    finally:
        recorder.warnings.extend(seeds.end())
        code = _script_source()
        recorder.finish(status, error, code=code, history=[code], environment=EnvironmentProbe().snapshot())


def _script_source() -> str:
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------- reading
def runs(
    experiment: str | None = None, name: str | None = None, last: int | None = None, db: str | os.PathLike | None = None
) -> "pandas.DataFrame":
    """One row per run (oldest first): run_id, experiment, name, status, start, duration,
    params.<p>, metrics.<m> (final values), tags.<t>.

    >>> runs(experiment="churn").sort_values("metrics.acc").tail(3)
    """
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or last < 1):
        raise UsageProblem(f"last must be a positive number of runs, not {last!r}")
    return open_store(db, create=False).runs_frame(experiment=experiment, name=name, last=last)


def get_run(run_id: str, db: str | os.PathLike | None = None) -> Run:
    """Everything recorded about one run; any unique prefix of its id works.

    >>> get_run("3f2a").metrics
    """
    return open_store(db, create=False).get_run(run_id)


def compare(*run_ids: str, db: str | os.PathLike | None = None) -> "Comparison":
    """Params, seeds, data, metrics (with deltas to the first run), code and packages side by side.

    >>> compare("3f2a", "9be0")
    """
    from .comparison import Comparison

    if len(run_ids) < 2:
        raise UsageProblem("compare needs at least two run ids")
    store = open_store(db, create=False)
    return Comparison([store.get_run(run_id) for run_id in run_ids])


def metric_series(run_id: str, name: str, db: str | os.PathLike | None = None) -> "pandas.DataFrame":
    """The step series of one metric of one run: columns step, value, timestamp."""
    return open_store(db, create=False).metric_series(run_id, name)


def experiments(db: str | os.PathLike | None = None) -> list[str]:
    """Names of the experiments that have runs."""
    return open_store(db, create=False).experiments()


def doctor(db: str | os.PathLike | None = None) -> list[DoctorCheck]:
    """Integrity checks of the store; killed runs are marked interrupted on the way."""
    return open_store(db, create=False).doctor()


def export(path: str | os.PathLike, format: str = "csv", db: str | os.PathLike | None = None) -> Path:
    """Write the runs table to ``path`` as csv, json (one object per run) or parquet."""
    frame = runs(db=db)
    path = Path(path)
    if format == "csv":
        frame.to_csv(path, index=False)
    elif format == "json":
        from .display import frame_json

        path.write_text(frame_json(frame) + "\n", encoding="utf-8")
    elif format == "parquet":
        try:
            frame.to_parquet(path, index=False)
        except ImportError:
            raise StoreError("parquet export needs pyarrow: pip install pyarrow") from None
    else:
        raise UsageProblem(f"unknown export format '{format}': use csv, json or parquet")
    return path
