"""One run being recorded, by a ``%%track`` cell or a ``start_run`` block.

Everything logged is buffered here and written by ``finish`` in one transaction; only the
``running`` row is written at the start, so a killed process leaves a run the store can
recognise as interrupted.
"""

from __future__ import annotations

import itertools
import json
import numbers
import os
import secrets
import sys
import threading
import time
import traceback
from typing import Any, Callable

from .config import ENV_SESSION, ENV_TAGS
from .errors import UsageProblem
from .records import Artifact, DataRef, MetricPoint, Run, Seed
from .store import Store

DEFAULT_EXPERIMENT = "default"

# Called with every Run this process finishes (the panel refreshes itself from here, issue 5).
# They run inside a tracked cell's bookkeeping, so each must be quick: schedule work, don't do it.
FINISHED_LISTENERS: list[Callable[[Run], None]] = []


def new_run_id() -> str:
    # Made by the client, never max+1: parallel writers cannot collide.
    return secrets.token_hex(16)


class Session:
    """The kernel or process recording runs: its id, the order of its runs, and tags for all of them.

    rerun and batch start kernels with ``JUPYTER_TRACKER_SESSION`` and ``JUPYTER_TRACKER_TAGS``
    set, so that they can find the runs an execution recorded, in order.
    """

    def __init__(self) -> None:
        self.id = os.environ.get(ENV_SESSION) or secrets.token_hex(8)
        try:
            tags = json.loads(os.environ.get(ENV_TAGS) or "{}")
        except ValueError:
            tags = {}
        self.tags = {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        with self._lock:
            return next(self._counter)


_session: Session | None = None


def current_session() -> Session:
    global _session
    if _session is None:
        _session = Session()
    return _session


class Recorder:
    def __init__(
        self,
        store: Store,
        name: str,
        experiment: str | None = None,
        source: str = "cell",
        tags: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        session: tuple[str, int] | None = None,
    ) -> None:
        self.store = store
        self.run_id = new_run_id()
        self.name = name
        self.experiment = experiment or DEFAULT_EXPERIMENT
        self.source = source
        self.clock = clock
        # A run written on behalf of another session (a failed batch execution) names it explicitly.
        this_session = current_session()
        self.session_id, self.session_seq = session or (this_session.id, this_session.next_seq())
        self.params: dict[str, Any] = {}
        self.tags: dict[str, str] = {**this_session.tags, **{k: str(v) for k, v in (tags or {}).items()}}
        self.hidden_state: dict[str, Any] | None = None
        self.seeds: list[Seed] = []
        self.points: list[MetricPoint] = []
        self.inputs: list[DataRef] = []
        self.outputs: list[DataRef] = []
        self.artifacts: list[Artifact] = []  # files already stored; their rows are written by finish
        self.warnings: list[str] = []
        self.start = clock()
        self._started = time.perf_counter()
        store.begin_run(self.run_id, self.experiment, name, source, self.start, self.tags,
                        session_id=self.session_id, session_seq=self.session_seq)

    # --------------------------------------------------------------- logging
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        # Called once per point of a step series: plain ints and floats skip the numbers-ABC checks, which
        # were a third of logging's cost (issue 7: at least 100,000 points/s).
        if step is not None and type(step) is not int:
            if isinstance(step, bool) or not isinstance(step, numbers.Integral):
                raise UsageProblem(f"step must be an integer, got {step!r}")
            step = int(step)
        now = self.clock()
        append = self.points.append
        for name, value in metrics.items():
            append(MetricPoint(name if type(name) is str else str(name),
                               value if type(value) is float else metric_value(name, value), step, now))

    def log_params(self, params: dict[str, Any]) -> None:
        self.params.update({str(k): v for k, v in params.items()})

    def set_tag(self, key: str, value: Any) -> None:
        self.tags[str(key)] = str(value)

    def logged_metric_names(self) -> set[str]:
        return {p.name for p in self.points}

    # ------------------------------------------------------------- finishing
    def finish(
        self,
        status: str,
        error: BaseException | None = None,
        code: str = "",
        history: list[str] | None = None,
        environment: dict[str, Any] | None = None,
    ) -> Run:
        end = self.clock()
        run = Run(
            run_id=self.run_id, experiment=self.experiment, name=self.name, status=status,
            start=self.start, end=end, duration=time.perf_counter() - self._started, source=self.source,
            params=self.params, tags=self.tags, seeds=self.seeds,
            metrics={p.name: p.value for p in self.points},
            metric_steps={},
            inputs=self.inputs, outputs=self.outputs, code=code, history=list(history or [code]),
            environment=environment or {},
            error=format_error(error) if error is not None else None,
            warnings=self.warnings,
            session_id=self.session_id, session_seq=self.session_seq, hidden_state=self.hidden_state,
            artifacts=self.artifacts,
        )
        self.store.finish_run(run, self.points)
        notify_finished(run)
        return run


def notify_finished(run: Run) -> None:
    """Tell each listener about a finished run; a failing listener is one warning line, never the user's error."""
    for listener in list(FINISHED_LISTENERS):
        try:
            listener(run)
        except Exception as exc:  # noqa: BLE001  (a display hook must not fail the cell or script)
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            print(f"jupyter_tracker warning: run listener {getattr(listener, '__qualname__', listener)!s} failed:"
                  f" {type(exc).__name__}: {message}", file=sys.stderr)


def metric_value(name: Any, value: Any) -> float:
    """A metric as a float; a clear error for anything that is not a real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
        if item is not None and getattr(value, "ndim", 1) == 0:
            return metric_value(name, item())
        raise UsageProblem(f"metric '{name}' must be a number, got {type(value).__name__} {value!r:.60}")
    return float(value)


def is_metric_number(value: Any) -> bool:
    try:
        metric_value("", value)
    except UsageProblem:
        return False
    return True


def format_error(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
