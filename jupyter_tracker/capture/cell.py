"""The ``%%track`` run loop.

Modelled on IPython's ``%%time``: the cell is transformed, compiled and executed in the
user's namespace, and the user's own exception is re-raised unchanged after the run is
recorded. Every tracker step runs in its own guard: a failing step becomes one warning
line and the cell goes on as it would have without the magic.
"""

from __future__ import annotations

import ast
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from IPython.core.displayhook import DisplayHook

from ..records import DataRef, MetricPoint, Run
from ..render import LiveSummary, one_line
from ..store import open_store
from .recorder import Recorder, is_metric_number, recording
from .code import (METRIC_NAMES, CellAnalysis, ExecutionLog, HistoryDigest, analyse, hidden_state,
                   notebook_code_cells)
from .env import shared_probe
from .files import FileRead, file_watch
from .params import estimator_params, is_estimator
from .seeds import estimator_seeds, seed_hooks
from .ticker import Ticker

WARNING_PREFIX = "jupyter_tracker warning:"
Finished = Callable[[Run, "Run | None", "TrackOptions"], None]
Live = Callable[[LiveSummary], None]


@dataclass
class TrackOptions:
    name: str | None = None
    experiment: str | None = None
    metrics: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    db: str | None = None
    baseline: str | None = None  # validate the run against this stage (of ``model``) or run id
    rules: list[str] = field(default_factory=list)  # metric rules for that validation
    model: str = "model"


class CellTracker:
    """One per kernel: runs tracked cells and remembers what the kernel has seen."""

    def __init__(self, shell: Any, finished: "Finished | None" = None, live: "Live | None" = None) -> None:
        """``finished(run, previous, options)`` is called after each run is recorded (the magics show
        the summary there, and the ``--baseline`` validation): ``previous`` is the run it compares with.
        ``live(summary)`` is called from a background thread while a long cell runs, at most once a second
        (the magics update the summary line in place there); never after the cell's ``finished``."""
        self.shell = shell
        self._live = live
        self._ticker = Ticker()
        self.enabled = True
        self.environment = shared_probe()
        self.seeds = seed_hooks()
        self.last_run: Run | None = None
        # The last run recorded here per (store, experiment, name): the next one's summary compares with it.
        self._recorded: dict[tuple[Any, str, str], Run] = {}
        self._finished = finished
        self._notebook_cache: tuple[Any, list[str] | None] = (None, None)
        self.executions = ExecutionLog(shell)
        self._history = HistoryDigest()  # what each run needs of the history, kept up to date (issue 12)
        # Seeds and file reads are watched from %load_ext on, in every cell (issue 10); seeds set before
        # it are read from the history.
        guard = Guard()
        guard("watch seeds", self.seeds.attach, shell, self.executions.before_load)
        self.files = file_watch()
        guard("watch file reads", self.files.attach, shell, _file_ref)
        guard("find the store", self._skip_default_store)

    # ------------------------------------------------------------------ loop
    def run(self, options: TrackOptions, cell: str) -> Any:
        """Execute ``cell`` as the user's code; record it unless tracking is off or cannot start."""
        __tracebackhide__ = True  # noqa: F841  (IPython hides this frame from the user's traceback)
        if not self.enabled:
            return self._execute(cell)
        self.files.active = False  # the tracker's own reads (the notebook, the store) are not the cell's
        step = Guard()
        recorder = step("open the store", self._begin, options)
        if recorder is None:
            return self._execute(cell)
        step.notes = recorder.warnings
        context = _CellContext()
        step("inspect the cell", self._analyse, context, cell)
        step("fingerprint the inputs", self._capture_inputs, recorder, context)
        step("watch seeds", self._watch_seeds, recorder, context)
        step("watch file reads", self._watch_files, recorder, context)
        if not step("start the run", self._write_start, recorder, options, cell, context):
            if context.seeding:  # the store refused the run (read-only, locked): the cell runs untracked
                self.seeds.end()
            return self._execute(cell, context.code)
        status, error, result = "finished", None, None
        if self._live is not None:
            self._ticker.watch(lambda: self._live(LiveSummary(  # type: ignore[misc]
                recorder.run_id, recorder.name, recorder.elapsed(), recorder.latest_points())))
        try:
            with recording(recorder), self.files.watching():
                result = self._execute(cell, context.code)
        except KeyboardInterrupt as exc:
            status, error = "interrupted", exc
        except BaseException as exc:  # the user's exception, re-raised below unchanged
            status, error = "failed", exc
        finally:
            self._ticker.stop()
        step("record the run", self._finish, recorder, options, cell, context, status, error)
        if error is not None:
            raise error
        return result

    def _execute(self, cell: str, prepared: tuple[str, ast.Module] | None = None) -> Any:
        __tracebackhide__ = True  # noqa: F841
        shell = self.shell
        cell_name, tree = prepared or self._prepare(cell)
        tree = shell.transform_ast(tree)
        last_expression = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last_expression = ast.Expression(tree.body.pop().value)
        namespace = shell.user_ns
        exec(shell.compile(tree, cell_name, "exec"), namespace, namespace)
        if last_expression is not None:
            value = eval(shell.compile(last_expression, cell_name, "eval"), namespace, namespace)
            # A trailing ';' silences the output, as in an untracked cell.
            return None if DisplayHook.semicolon_at_end_of_expression(cell) else value
        return None

    # ----------------------------------------------------------------- steps
    def _begin(self, options: TrackOptions) -> Recorder:
        store = open_store(options.db)
        name = options.name or f"cell{self.shell.execution_count}"
        return Recorder(store, name, options.experiment, source="cell", tags=options.tags, begin=False)

    def _write_start(self, recorder: Recorder, options: TrackOptions, cell: str, context: "_CellContext") -> bool:
        """The run's first write, before the cell runs: what is known then (issue 12), so that a reader, or
        a kernel killed mid-cell, has the params, seeds, inputs, code and history from the start."""
        context.history = list(self.executions.entries) or [cell]
        # Params known before execution: papermill's, the cell's literal assignments, and --params names the
        # cell does not bind (their value now is their value at the end). The end writes all params again.
        params: dict[str, Any] = {}
        try:
            params.update(self._history.update(context.history).papermill_params)
            params.update(self._literal_params(options, context))
            namespace = self.shell.user_ns
            params.update({name: namespace[name] for name in options.params
                           if name in namespace and name not in context.analysis.binds})
        except Exception:  # noqa: BLE001  (the end captures params again, in its own guard, with a warning)
            pass
        recorder.begin(code=cell, history=context.history, inferred=params)
        return True

    def _prepare(self, cell: str) -> tuple[str, ast.Module]:
        """The cell transformed (magics, shell escapes), cached for tracebacks and parsed: its name and tree."""
        shell = self.shell
        source = shell.transform_cell(cell)
        cell_name = shell.compile.cache(source, shell.execution_count, raw_code=cell)
        return cell_name, shell.compile.ast_parse(source, filename=cell_name)

    def _analyse(self, context: "_CellContext", cell: str) -> None:
        # The tree analysed here is the one executed: transforming and parsing a cell once, not twice,
        # saves a quarter of a millisecond per tracked cell (issue 7).
        try:
            context.code = self._prepare(cell)
        except SyntaxError:
            return  # the user sees the SyntaxError itself when the cell runs
        context.analysis = analyse(context.code[1])

    def _capture_inputs(self, recorder: Recorder, context: "_CellContext") -> None:
        from .data import can_fingerprint, fingerprint

        namespace = self.shell.user_ns
        for name in context.analysis.reads:
            value = namespace.get(name)
            if value is not None and can_fingerprint(value):
                recorder.inputs.append(_data_ref("input", name, value, fingerprint, recorder.warnings))

    def _watch_seeds(self, recorder: Recorder, context: "_CellContext") -> None:
        self.seeds.begin(recorder.seeds, self.shell.user_ns)
        context.seeding = True

    def _watch_files(self, recorder: Recorder, context: "_CellContext") -> None:
        self.files.skip_store(recorder.store.path, recorder.store.artifacts.root)
        self.files.take()  # what the magic's line read is not the cell's
        context.watching_files = True

    def _skip_default_store(self) -> None:
        from ..config import resolve_settings

        settings = resolve_settings()
        self.files.skip_store(settings.db_path, settings.artifacts_dir)

    def _finish(
        self, recorder: Recorder, options: TrackOptions, cell: str, context: "_CellContext",
        status: str, error: BaseException | None,
    ) -> None:
        guard = Guard(recorder.warnings)
        if context.seeding:
            recorder.warnings.extend(self.seeds.end())
        history = context.history or list(self.executions.entries) or [cell]
        guard("capture params", self._capture_params, recorder, options, context, history)
        guard("capture metrics", self._capture_metrics, recorder, options, context)
        guard("capture data", self._capture_data, recorder, context)
        notebook = _notebook_path(self.shell)
        environment = guard("capture the environment", self.environment.snapshot, notebook) or {}
        recorder.hidden_state = guard("check for hidden state", self._hidden_state, history, notebook)
        previous, key = None, (recorder.store.path, recorder.experiment, recorder.name)
        if recorder.points or recorder.inputs:  # the summary compares only metrics and inputs with it
            previous = guard("find the previous run", recorder.store.previous_run,
                             recorder.experiment, recorder.name, recorder.start, recorder.run_id,
                             self._recorded.get(key))
        run = recorder.finish(status, error, code=cell, history=history, environment=environment)
        self.last_run = self._recorded[key] = run
        if self._finished is not None:
            guard("show the run", self._finished, run, previous, options)

    def _hidden_state(self, history: list[str], notebook: str | None) -> dict[str, Any]:
        cells = None
        if notebook:
            path = notebook if os.path.isfile(notebook) else os.path.basename(notebook)
            try:
                key = (path, os.stat(path).st_mtime_ns)
            except OSError:
                key = None
            if key is not None:
                if self._notebook_cache[0] != key:
                    self._notebook_cache = (key, notebook_code_cells(path))
                cells = self._notebook_cache[1]
        state = hidden_state(history, cells, self._history.update(history))
        raised = [i for i in self.executions.raised if i < len(history) - 1]
        return {**state, "raised": raised} if raised else state

    def _capture_params(
        self, recorder: Recorder, options: TrackOptions, context: "_CellContext", history: list[str]
    ) -> None:
        namespace = self.shell.user_ns
        params: dict[str, Any] = dict(self._history.update(history).papermill_params)
        params.update(self._literal_params(options, context))
        for name in context.analysis.binds:
            value = namespace.get(name)
            if is_estimator(value):
                found = estimator_params(name, value)
                params.update(found)
                recorder.seeds.extend(s for s in estimator_seeds(found) if s not in recorder.seeds)
        for name in options.params:
            if name in namespace:
                params[name] = namespace[name]
            else:
                recorder.warnings.append(f"--params names '{name}', which the cell did not define")
        # Explicit log_param calls win over what was inferred.
        recorder.params = {**params, **recorder.params}

    @staticmethod
    def _literal_params(options: TrackOptions, context: "_CellContext") -> dict[str, Any]:
        metric_names = {n.lower() for n in options.metrics} | METRIC_NAMES
        return {k: v for k, v in context.analysis.literals.items() if k.lower() not in metric_names}

    def _capture_metrics(self, recorder: Recorder, options: TrackOptions, context: "_CellContext") -> None:
        namespace = self.shell.user_ns
        logged = recorder.logged_metric_names()
        wanted = [n for n in context.analysis.binds if n.lower() in METRIC_NAMES]
        wanted += [n for n in options.metrics if n not in wanted]
        now = time.time()
        for name in wanted:
            if name in logged:
                continue
            value = namespace.get(name)
            if name in options.metrics and name not in namespace:
                recorder.warnings.append(f"--metrics names '{name}', which the cell did not define")
            elif is_metric_number(value):
                recorder.points.append(MetricPoint(name, float(value), None, now))
            elif name in options.metrics:
                recorder.warnings.append(f"--metrics names '{name}', which is not a number ({type(value).__name__})")

    def _capture_data(self, recorder: Recorder, context: "_CellContext") -> None:
        from .data import can_fingerprint, fingerprint

        namespace = self.shell.user_ns
        for name in context.analysis.binds:
            value = namespace.get(name)
            if value is not None and can_fingerprint(value):
                recorder.outputs.append(_data_ref("output", name, value, fingerprint, recorder.warnings))
        if not context.watching_files:
            return
        # The files this cell read, fingerprinted as it ends; then those read by earlier cells of the kernel.
        read_here = {path: _file_ref(path, read, recorder.warnings) for path, read in self.files.take().items()}
        recorder.inputs.extend(read_here.values())
        names = {ref.name for ref in recorder.inputs}
        recorder.inputs.extend(ref for path, ref in self.files.earlier.items()
                               if path not in read_here and ref.name not in names)
        self.files.remember(read_here, self.files.cell)


@dataclass
class _CellContext:
    analysis: Any = field(default_factory=CellAnalysis)
    watching_files: bool = False
    seeding: bool = False
    code: tuple[str, ast.Module] | None = None  # the cell's name and parsed tree, shared by analysis and execution
    history: list[str] | None = None  # the kernel's execution history as the run started


class Guard:
    """Run a tracker step; on failure print one warning line, note it, and return None."""

    def __init__(self, notes: list[str] | None = None) -> None:
        self.notes = notes

    def __call__(self, what: str, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except Exception as exc:  # noqa: BLE001  (a tracker failure must never reach the user's cell)
            message = f"could not {what}: {type(exc).__name__}: {one_line(exc)}"
            warn(message)
            if self.notes is not None:
                self.notes.append(message)
            return None


def _data_ref(role: str, name: str, value: Any, fingerprinter: Callable[[Any], Any],
              warnings: list[str], source: str = "variable") -> DataRef:
    try:
        return DataRef(role, name, source, fingerprinter(value))
    except Exception as exc:  # noqa: BLE001  (unhashable data is skipped with a note, never fatal)
        note = f"skipped {role} '{name}': cannot fingerprint {type(value).__name__} ({type(exc).__name__}: {one_line(exc)})"
        warn(note)
        warnings.append(note)
        return DataRef(role, name, source, None, note)


def _file_ref(path: str, read: FileRead, warnings: list[str] | None = None) -> DataRef:
    from .data import fingerprint_file  # xxhash, on first use

    return _data_ref("input", read.shown, path, fingerprint_file, [] if warnings is None else warnings, read.reader)


def _notebook_path(shell: Any) -> str | None:
    # Jupyter server passes the notebook path to the kernel; papermill runs leave it unset.
    path = shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    return str(path) if path else None




def warn(message: str) -> None:
    print(f"{WARNING_PREFIX} {message}", file=sys.stderr)
