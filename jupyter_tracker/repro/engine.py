"""Execute notebooks with papermill in fresh kernels: the one engine behind ``rerun`` and ``batch``.

This is the only module that imports papermill. Each execution runs in its own kernel, started
with its own environment and working directory (executions run side by side in threads, or as
tasks on a Dask cluster). Kernels learn which session they are and which tags their runs carry
from environment variables, so the runs an execution recorded can be found afterwards.

Nothing an execution starts outlives it (issue 13): when it ends, fails, times out or is
cancelled, its kernel is shut down and every process the kernel started (joblib/loky workers,
subprocesses) is killed, with the client's channel threads and the connection file. Kernels write
to a temporary file, never to our stdout/stderr, which a worker left behind would hold open.

A kernel that does not answer within ``STARTUP_PATIENCE`` of being started (a lost race for a port
with another process, a machine under load), or dies before answering, is ended and a new one is
started in its place, up to ``STARTS`` times: no cell has run yet, so nothing is lost or repeated.
The last attempt's failure carries the kernel's last line on stderr.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..config import ENV_DB, ENV_SESSION, ENV_TAGS
from ..errors import UsageProblem, shortened
from ..models.replay import DEFAULT_KERNEL, RAISES
from ..records import MetricPoint, Run
from ..render import one_line
from ..store import INTERRUPTED_MESSAGE, Store
from .verdict import ExecutionError

ENV_REPLAY = "JUPYTER_TRACKER_REPLAY"
Progress = Callable[[int, int], None]
# Seconds a kernel's leftover processes get between SIGTERM and SIGKILL: loky workers and the
# resource tracker exit in milliseconds once the kernel is gone.
GRACE = 2.0
STARTS = 3  # kernels started, at most, for one execution
STARTUP_PATIENCE = 30.0  # seconds a started kernel has to answer (a healthy one takes 1 to 5 under load)


class KernelStartFailed(Exception):
    """The kernel was started but never answered: no cell ran, so the execution may start again."""


@dataclass(frozen=True)
class Execution:
    """One papermill execution to run: what, where, with which parameters, recorded how."""

    notebook: str
    output: str
    cwd: str
    db: str
    session_id: str
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    kernel_name: str = DEFAULT_KERNEL
    timeout: float | None = None  # per cell, in seconds
    replay: bool = False


@dataclass
class ExecutionResult:
    execution: Execution
    seconds: float
    error: ExecutionError | None = None
    records: list[tuple[Run, list[MetricPoint]]] = field(default_factory=list)  # from remote workers only
    notebook_text: str | None = None  # the executed notebook, from remote workers only
    artifact_files: dict[str, bytes] = field(default_factory=dict)  # hash -> bytes, from remote workers only

    @property
    def ok(self) -> bool:
        return self.error is None


def new_session_id() -> str:
    return secrets.token_hex(8)


# ------------------------------------------------------------------ cancelling
class Cancellation:
    """Stops, from any thread, the executions started under it: their kernels and everything those
    started are killed at once, each ends failed with the reason, and the ones not started yet do
    not start. The server cancels its rerun jobs this way when it shuts down (issue 13).

    For example::

        cancellation = Cancellation()
        with cancellation.applies():            # in the thread that calls rerun() or run_all()
            verdict = rerun(store, run_id)
        cancellation.cancel("the server is shutting down")    # from another thread meanwhile
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self._lock = threading.Lock()
        self._kernels: set[Any] = set()

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            self.reason = self.reason or reason
            kernels = list(self._kernels)
        for kernel in kernels:
            kernel.kill()

    @contextlib.contextmanager
    def applies(self) -> Any:
        """Make this the cancellation of every execution started in this context."""
        token = _CANCELLATION.set(self)
        try:
            yield self
        finally:
            _CANCELLATION.reset(token)

    def watch(self, kernel: Any) -> None:
        """Called by a kernel's manager as soon as its process runs: one started after ``cancel`` dies now."""
        with self._lock:
            if self.reason is None:
                self._kernels.add(kernel)
                return
        kernel.kill()

    def forget(self, kernel: Any) -> None:
        with self._lock:
            self._kernels.discard(kernel)


_CANCELLATION: contextvars.ContextVar[Cancellation | None] = contextvars.ContextVar("cancellation", default=None)


# ------------------------------------------------------------------ executing
def execute(execution: Execution, cancellation: Cancellation | None = None) -> ExecutionResult:
    """Run one notebook to completion with papermill; the kernel records into ``execution.db``.

    Whatever happens, the kernel and all it started are gone when this returns (or raises)."""
    import papermill  # imported on use: it loads nbclient, jupyter_client and friends (~0.5 s)
    from papermill.exceptions import PapermillExecutionError

    cancellation = cancellation or Cancellation()
    started = time.perf_counter()
    if cancellation.reason is not None:
        return ExecutionResult(execution, 0.0, ExecutionError(cancellation.reason))
    if not os.path.isdir(execution.cwd):
        error = ExecutionError(f"working directory {execution.cwd} does not exist")
        return ExecutionResult(execution, 0.0, error)
    Path(execution.output).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, STARTS + 1):
        kernel = _kernel_manager(execution, cancellation)
        error = None
        graceful = False  # whether the kernel is idle, so may exit cleanly (the user's atexit hooks run)
        try:
            # The kernel gets its environment and working directory from its own manager, never from
            # this process's os.environ or cwd: executions run side by side in threads.
            papermill.execute_notebook(
                execution.notebook, execution.output, parameters=execution.parameters or None,
                kernel_name=execution.kernel_name, progress_bar=False, request_save_on_cell_execute=False,
                # papermill takes whole seconds: 2.5 would fail every cell, so round up.
                execution_timeout=None if execution.timeout is None else max(1, math.ceil(execution.timeout)),
                # Ours, so nbclient leaves it running at the end (it shuts down only managers it made):
                # kernel.end() below does, whatever happened (issue 13).
                km=kernel,
                resources={"metadata": {"path": execution.cwd}},
                # The kernel's own log (transport notices, the interrupt at shutdown) is not the user's.
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
            graceful = True
        except KernelStartFailed as failure:
            error = ExecutionError(f"the kernel did not start: {failure}")
            if attempt < STARTS and cancellation.reason is None:
                continue  # (the finally clause ends this kernel first)
        except PapermillExecutionError as failure:
            graceful = True  # a cell raised: the kernel is idle
            error = ExecutionError(str(failure.evalue), failure.cell_index, failure.exec_count,
                                   failure.ename, str(failure.evalue))
            if failure.cell_index is not None and _tagged_raising(execution.output, failure.cell_index):
                error = _unexpected_error(execution.output)
        except Exception as failure:  # noqa: BLE001  (a kernel that dies or times out is a failed execution)
            error = ExecutionError(f"{type(failure).__name__}: {one_line(failure)}{kernel.last_words()}")
        finally:
            kernel.end(graceful=graceful and cancellation.reason is None)
        break
    if error is not None and cancellation.reason is not None:
        error = ExecutionError(cancellation.reason)  # not the "Kernel died" it caused
    return ExecutionResult(execution, time.perf_counter() - started, error)


_PAPERMILL_MARKER = "papermill-error-cell-tag"  # the cells papermill inserts to point at the failing one


def _executed_cells(output: str) -> list[Any]:
    """The executed notebook's cells as executed: without the error markers papermill adds on top."""
    import nbformat

    try:
        cells = nbformat.read(output, as_version=4).cells
    except (OSError, ValueError):
        return []
    return [c for c in cells if _PAPERMILL_MARKER not in c.get("metadata", {}).get("tags", [])]


def _tagged_raising(output: str, index: int) -> bool:
    cells = _executed_cells(output)
    return index < len(cells) and RAISES in cells[index].get("metadata", {}).get("tags", [])


def _unexpected_error(output: str) -> ExecutionError | None:
    """The first error of the executed notebook in a cell not tagged as raising, or None."""
    for index, cell in enumerate(_executed_cells(output)):
        if RAISES in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return ExecutionError(str(out.get("evalue")), index, cell.get("execution_count"),
                                      out.get("ename"), str(out.get("evalue")))
    return None


def execute_remote(execution: Execution) -> ExecutionResult:
    """On a Dask worker: record into a private store and send the records back, with their artifact files.

    The client writes them into the one real store, so no worker ever writes SQLite over a
    network file system. The execution is over: a run still ``running`` lost its kernel, and
    goes back ``interrupted`` (issue 10: nothing stuck).
    """

    with tempfile.TemporaryDirectory(prefix="jupyter-tracker-") as scratch:
        local = replace(execution, db=os.path.join(scratch, "tracker.db"),
                        output=os.path.join(scratch, os.path.basename(execution.output)))
        result = execute(local)
        if os.path.exists(local.db):
            store = Store(local.db)
            try:
                for run_id in store.session_runs(execution.session_id):
                    run = store.get_run(run_id)
                    if run.status == "running":
                        ended = time.time()
                        run = replace(run, status="interrupted", end=ended, duration=ended - run.start,
                                      error=run.error or INTERRUPTED_MESSAGE)
                    result.records.append((run, store.metric_points(run_id)))
                    for artifact in run.artifacts:
                        # The whole file travels in the result (Dask has no streaming results); a file
                        # missing here is left to the client's doctor to report.
                        path = store.artifacts.path(artifact.hash)
                        if artifact.hash not in result.artifact_files and path.is_file():
                            result.artifact_files[artifact.hash] = path.read_bytes()
            finally:
                store.close()
        if os.path.exists(local.output):
            result.notebook_text = Path(local.output).read_text(encoding="utf-8")
    result.execution = execution
    return result


def run_all(executions: list[Execution], workers: int = 1, scheduler: str | None = None,
            progress: bool = True, on_progress: Progress | None = None, description: str = "executing"
            ) -> list[ExecutionResult]:
    """Execute every notebook, ``workers`` at a time (or on a Dask cluster), in the given order of results."""
    from tqdm.auto import tqdm  # a progress bar in a terminal and in a notebook

    total = len(executions)
    results: list[ExecutionResult | None] = [None] * total
    # The caller's (a server job's), else one of our own, so that Ctrl-C stops every execution at once.
    cancellation = _CANCELLATION.get() or Cancellation()
    with contextlib.ExitStack() as stack:
        # No bar rather than a disabled one, which still starts tqdm's monitor thread and never stops it.
        bar = stack.enter_context(tqdm(total=total, desc=description, unit="notebook", file=sys.stderr)
                                  ) if progress else None

        def finished(index: int, result: ExecutionResult) -> None:
            results[index] = result
            if bar is not None:
                bar.update(1)
            if not result.ok:
                tqdm.write(f"failed: {Path(result.execution.output).name}: {result.error.text()}", file=sys.stderr)
            if on_progress is not None:
                on_progress(sum(r is not None for r in results), total)

        if scheduler:
            _run_on_dask(executions, scheduler, finished)
        elif workers <= 1 or total <= 1:
            for index, execution in enumerate(executions):
                finished(index, execute(execution, cancellation))
        else:
            # Threads are enough: each execution's work happens in its own kernel process.
            with ThreadPoolExecutor(max_workers=min(workers, total), thread_name_prefix="jupyter-tracker") as pool:
                pending = {pool.submit(execute, e, cancellation): i for i, e in enumerate(executions)}
                try:
                    _collect(pending, finished)
                except BaseException:
                    # Ctrl-C while waiting: the other threads' kernels die too, before the pool's exit
                    # waits for those threads.
                    cancellation.cancel("interrupted")
                    raise
    return [r for r in results if r is not None]


def _collect(pending: dict[Future, int], finished: Callable[[int, ExecutionResult], None]) -> None:
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            index = pending.pop(future)
            finished(index, future.result())


def _run_on_dask(executions: list[Execution], scheduler: str,
                 finished: Callable[[int, ExecutionResult], None]) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UsageProblem("--scheduler needs Dask: pip install 'jupyter_tracker[dask]'") from None

    stores: dict[str, Store] = {}
    try:
        with Client(scheduler, timeout="20s") as client:
            futures = {client.submit(execute_remote, e, pure=False): i for i, e in enumerate(executions)}
            for future in as_completed(list(futures)):
                result: ExecutionResult = future.result()
                store = stores.setdefault(result.execution.db, Store(result.execution.db))
                # Files first: a row never names a file the store does not have.
                for digest, data in result.artifact_files.items():
                    store.artifacts.put_bytes(data, digest)
                for run, points in result.records:
                    store.import_run(run, points)
                if result.notebook_text is not None:
                    Path(result.execution.output).parent.mkdir(parents=True, exist_ok=True)
                    Path(result.execution.output).write_text(result.notebook_text, encoding="utf-8")
                finished(futures[future], result)
    except OSError as failure:
        raise UsageProblem(f"cannot reach the Dask scheduler at {scheduler}: {one_line(failure)}") from None
    finally:
        for store in stores.values():
            store.close()


def _kernel_manager(execution: Execution, cancellation: Cancellation) -> Any:
    """A kernel manager that starts its kernel with this execution's environment."""
    import json

    environment = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    # (A rerun started from a notebook must not check hidden state against that notebook.)
    environment.update({ENV_DB: execution.db, ENV_SESSION: execution.session_id, ENV_TAGS: json.dumps(execution.tags)})
    if execution.replay:
        environment[ENV_REPLAY] = "1"
    else:
        environment.pop(ENV_REPLAY, None)
    return _manager_class()(kernel_name=execution.kernel_name, kernel_environment=environment,
                            cancellation=cancellation)


@functools.cache
def _manager_class() -> type:
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from traitlets import Any as AnyTrait, Dict, Float, List

    class OwnedKernel(AsyncKernelManager):
        """A kernel that is started quiet, and ended with all it started (``end``, ``kill``)."""

        kernel_environment = Dict()
        # Half of it for a clean exit, then SIGTERM to its process group. A clean kernel exits in 0.2 s,
        # but one that used joblib never does: at shutdown ipykernel waits for its children, and the
        # resource tracker among them ignores SIGTERM until the kernel is gone (2.6 s with the default 5).
        shutdown_wait_time = Float(1.0)
        cancellation = AnyTrait(None)  # the Cancellation that may kill it
        started_clients = List()  # kept to stop their channels at the end: each has a heartbeat thread
        output = AnyTrait(None)  # the kernel's stdout and stderr: an unnamed temporary file

        async def start_kernel(self, **kwargs: Any) -> None:
            """Start the kernel and wait until it answers; ``KernelStartFailed`` if it does not."""
            kwargs["env"] = dict(self.kernel_environment)
            # Never our stdout/stderr: loky workers inherit them and held `batch | tee` open for the
            # 300 s of their idle timeout (issue 13: 346 s instead of 15 s). A file holds nothing open.
            self.output = tempfile.TemporaryFile(prefix="jupyter-tracker-kernel-")
            kwargs["stdout"] = kwargs["stderr"] = self.output
            await super().start_kernel(**kwargs)
            if self.cancellation is not None:
                self.cancellation.watch(self)
            probe = self.client()
            probe.start_channels()
            try:
                await probe.wait_for_ready(timeout=STARTUP_PATIENCE)
            except RuntimeError as failure:  # "didn't respond in 30 seconds", "died before replying"
                raise KernelStartFailed(f"{one_line(failure)}{self.last_words()}") from None
            finally:
                probe.stop_channels()

        def last_words(self) -> str:
            """The kernel's last line on stderr, as "; kernel said: ...", or "" when it said nothing."""
            if self.output is None or self.output.closed:
                return ""
            self.output.seek(0, os.SEEK_END)
            self.output.seek(max(0, self.output.tell() - 4096))
            lines = [line.strip() for line in self.output.read().decode("utf-8", "replace").splitlines()]
            lines = [line for line in lines if line]
            return f"; kernel said: {shortened(lines[-1], 300)}" if lines else ""

        def client(self, **kwargs: Any) -> Any:
            client = super().client(**kwargs)
            self.started_clients.append(client)
            return client

        def processes(self) -> list[Any]:
            return _process_tree(getattr(self.provisioner, "pid", None))

        def kill(self) -> None:
            """SIGKILL the kernel and all it started, from any thread; ``end`` then cleans up."""
            _stop(self.processes(), grace=0)

        def end(self, graceful: bool) -> None:
            """Shut the kernel down (cleanly when ``graceful``: its exit hooks run), then kill whatever it
            started that still runs, stop the clients' channels and remove the connection file."""
            if self.cancellation is not None:
                self.cancellation.forget(self)
            began = time.time()
            started = self.processes()
            try:
                if not graceful:
                    _stop(started, grace=0)
                if self.has_kernel:
                    run_sync(self.shutdown_kernel)(now=not graceful)
            finally:
                # Processes the kernel's children started once it was gone are still in its session. Only
                # those older than this call: the kernel's pid, free again, may already be another's.
                pid = getattr(self.provisioner, "pid", None)
                _stop(started + _process_tree(pid, created_before=began), grace=GRACE)
                for client in self.started_clients:
                    client.stop_channels()
                self.cleanup_connection_file()
                if self.output is not None:
                    self.output.close()

    return OwnedKernel


def _process_tree(pid: int | None, created_before: float | None = None) -> list[Any]:
    """The kernel ``pid``, its descendants, and what remains of its session (its orphans: a loky worker
    whose parent died), as psutil processes (safe to signal later: psutil checks the pid was not reused).
    ``created_before``: only processes started before that time (a pid freed by the kernel's exit may be
    given to a new process, another execution's kernel, meanwhile)."""
    import psutil  # on use, like papermill

    if pid is None:
        return []
    found = []
    with contextlib.suppress(psutil.Error):
        kernel = psutil.Process(pid)
        found = [kernel, *kernel.children(recursive=True)]
    # The kernel leads its own session (jupyter_client starts it with start_new_session).
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(process.pid) == pid and process not in found:
                found.append(process)
    if created_before is not None:
        found = [p for p in found if _created(p) <= created_before]
    return found


def _created(process: Any) -> float:
    import psutil

    try:
        return process.create_time()
    except psutil.Error:
        return math.inf  # gone: nothing to stop


def _stop(processes: list[Any], grace: float) -> None:
    """SIGTERM the processes, then SIGKILL those still running after ``grace`` seconds (at once if 0)."""
    import psutil

    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGKILL if grace <= 0 else signal.SIGTERM)
    deadline = time.monotonic() + grace
    while grace > 0 and _running(processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    for process in _running(processes):
        with contextlib.suppress(psutil.Error):
            process.kill()


def _running(processes: list[Any]) -> list[Any]:
    """Those not yet dead. A zombie is dead: psutil.wait_procs would wait for whoever reaps it (an
    orphan's is init, which may take a second)."""
    import psutil

    running = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


def in_replay() -> bool:
    """True inside a kernel started by ``rerun``: its history must not start reruns of its own."""
    return os.environ.get(ENV_REPLAY) == "1"

