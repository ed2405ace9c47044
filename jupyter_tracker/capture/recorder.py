"""One run being recorded, by a ``%%track`` cell or a ``start_run`` block.

Three kinds of writes, each one transaction (issue 12): ``begin`` writes the ``running`` row with what
is known at the start (params, seeds, inputs, code, history); while the run logs metrics, one
background thread per process (``LiveWriter``) writes the points logged since its last flush about
every ``FLUSH_SECONDS``; ``finish`` writes the rest (the points not yet flushed included) with the
final status. A killed process leaves a run the store recognises as interrupted, with its start and
every point flushed before the kill.
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
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..config import ENV_SESSION, ENV_TAGS
from ..errors import NoActiveRun, UsageProblem
from ..records import Artifact, DataRef, MetricPoint, Run, Seed
from ..store import Store
from .params import stable_value

DEFAULT_EXPERIMENT = "default"
# How often the live writer flushes the points logged since its last flush (issue 12: another process
# sees a point within about a second, and a killed kernel loses at most the last second of them).
FLUSH_SECONDS = 0.5

# Called with every Run this process finishes (the panel refreshes itself from here, issue 5).
# They run inside a tracked cell's bookkeeping, so each must be quick: schedule work, don't do it.
FINISHED_LISTENERS: list[Callable[[Run], None]] = []


_active: list["Recorder"] = []  # innermost last: a start_run block inside a tracked cell wins


def active_recorder(what: str) -> "Recorder":
    """The run that log_* calls write to: the innermost tracked cell or start_run block."""
    if not _active:
        raise NoActiveRun(what)
    return _active[-1]


@contextmanager
def recording(recorder: "Recorder") -> Iterator["Recorder"]:
    """Make ``recorder`` the target of log_* calls for the duration of the block."""
    _active.append(recorder)
    try:
        yield recorder
    finally:
        _active.remove(recorder)


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
        begin: bool = True,
    ) -> None:
        """``begin=False`` leaves the start's write to ``begin``, once what is known at the start is gathered."""
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
        # Live writes (issue 12): points[:_written] are in the store. log_metrics only appends; the writer
        # thread and finish take the points after _written under _flush_lock, so none is written twice.
        self._written = 0
        self._flush_lock = threading.Lock()
        self._live = False  # handed to the live writer (on the first point logged)
        self._latest: dict[str, MetricPoint] = {}  # each metric's last point among points[:_scanned]
        self._scanned = 0
        self._finishing = False
        if begin:
            self.begin()

    def begin(self, code: str | None = None, history: list[str] | None = None,
              inferred: dict[str, Any] | None = None) -> None:
        """Write the ``running`` row with what is known now: tags, params (``inferred`` ones under those
        logged), seeds, inputs, and code and history. ``finish`` writes all of them again."""
        params = {**(inferred or {}), **self.params}
        self.store.begin_run(
            self.run_id, self.experiment, self.name, self.source, self.start, self.tags,
            session_id=self.session_id, session_seq=self.session_seq,
            params={name: stable_value(value) for name, value in params.items()}, seeds=list(self.seeds),
            inputs=list(self.inputs), code=code, history=history,
        )

    # --------------------------------------------------------------- logging
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        # Called once per point of a step series: plain ints and floats skip the numbers-ABC checks, which
        # were a third of logging's cost (issue 7: at least 100,000 points/s).
        if step is not None and type(step) is not int:
            if isinstance(step, bool) or not isinstance(step, numbers.Integral):
                raise UsageProblem(f"step must be an integer, got {step!r}")
            step = int(step)
        now = self.clock()
        # One list.extend: atomic under the GIL, so a flush never splits a call's points (issue 12).
        self.points.extend([MetricPoint(name if type(name) is str else str(name),
                                        value if type(value) is float else metric_value(name, value), step, now)
                            for name, value in metrics.items()])
        if not self._live:  # the writer thread starts with the first point: never for a run that logs none
            self._go_live()

    def _go_live(self) -> None:
        self._live = True
        try:
            live_writer().add(self)
        except Exception as exc:  # noqa: BLE001  (no thread to spare: the points are written at the end, as before)
            message = f"could not start writing live metrics: {type(exc).__name__}: {str(exc).strip()[:200]}"
            self.warnings.append(message)
            print(f"jupyter_tracker warning: {message}", file=sys.stderr)

    def flush(self) -> None:
        """Write the points logged since the last flush, in one transaction (the live writer calls this)."""
        with self._flush_lock:
            if self._finishing:
                return
            end = len(self.points)  # appends after this one go to the next flush
            if end == self._written:
                return
            self.store.append_metrics(self.run_id, self.points[self._written:end])
            self._written = end

    def latest_points(self) -> dict[str, MetricPoint]:
        """Each metric's latest point so far, in the order the names were first logged; looks only at the
        points logged since the last call (the live summary line asks once a second, issue 12)."""
        end = len(self.points)
        latest = self._latest
        for point in self.points[self._scanned:end]:
            latest[point.name] = point
        self._scanned = end
        return dict(latest)

    def elapsed(self) -> float:
        return time.perf_counter() - self._started

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
        live_writer().remove(self)
        with self._flush_lock:  # waits for a flush under way; none starts after this
            self._finishing = True
            run = self._finish(status, error, code, history, environment)
        notify_finished(run)
        return run

    def _finish(self, status: str, error: BaseException | None, code: str, history: list[str] | None,
                environment: dict[str, Any] | None) -> Run:
        end = self.clock()
        run = Run(
            run_id=self.run_id, experiment=self.experiment, name=self.name, status=status,
            start=self.start, end=end, duration=self.elapsed(), source=self.source,
            params={name: stable_value(value) for name, value in self.params.items()}, tags=self.tags, seeds=self.seeds,
            metrics={p.name: p.value for p in self.points},
            metric_steps={},
            inputs=self.inputs, outputs=self.outputs, code=code, history=list(history or [code]),
            environment=environment or {},
            error=format_error(error) if error is not None else None,
            warnings=self.warnings,
            session_id=self.session_id, session_seq=self.session_seq, hidden_state=self.hidden_state,
            artifacts=self.artifacts,
        )
        # Only what the live writer has not written: the store continues each metric's seq after it.
        self.store.finish_run(run, self.points[self._written:])
        self._written = len(self.points)
        return run


class LiveWriter:
    """The one background thread of a process that writes running runs' new metric points (issue 12).

    A daemon thread, started with the first point logged; every ``FLUSH_SECONDS`` it flushes each run
    that logs, one transaction per run. A flush that fails is one warning line; that run's points are
    then written by its final write, as before live writes.
    """

    def __init__(self) -> None:
        self._recorders: list[Recorder] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, recorder: Recorder) -> None:
        with self._lock:
            self._recorders.append(recorder)
            if self._thread is None or not self._thread.is_alive():  # a forked child has no thread
                self._thread = threading.Thread(target=self._loop, name="jupyter_tracker live metrics", daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, recorder: Recorder) -> None:
        with self._lock:
            if recorder in self._recorders:
                self._recorders.remove(recorder)

    def _loop(self) -> None:
        while True:
            with self._lock:
                recorders = list(self._recorders)
            if not recorders:  # idle until a run logs again
                self._wake.wait()
                self._wake.clear()
                continue
            time.sleep(FLUSH_SECONDS)
            for recorder in recorders:
                try:
                    recorder.flush()
                except Exception as exc:  # noqa: BLE001  (a failed flush must never reach the user's code)
                    self.remove(recorder)
                    message = (f"could not write live metrics of run {recorder.run_id[:8]}: {type(exc).__name__}: "
                               f"{str(exc).strip()[:200]}; they are written when the run ends")
                    recorder.warnings.append(message)
                    print(f"jupyter_tracker warning: {message}", file=sys.stderr)


_writer: LiveWriter | None = None
_writer_lock = threading.Lock()


def live_writer() -> LiveWriter:
    global _writer
    if _writer is None or _writer._pid != os.getpid():
        with _writer_lock:
            if _writer is None or _writer._pid != os.getpid():
                _writer = LiveWriter()
    return _writer


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
