"""Execute notebooks with papermill in fresh kernels: the one engine behind ``rerun`` and ``batch``.

This is the only module that imports papermill. Each execution runs in its own kernel, started
with its own environment and working directory (executions run side by side in threads, or as
tasks on a Dask cluster). Kernels learn which session they are and which tags their runs carry
from environment variables, so the runs an execution recorded can be found afterwards.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..config import ENV_DB, ENV_SESSION, ENV_TAGS
from ..errors import UsageProblem
from ..models.replay import DEFAULT_KERNEL, RAISES
from ..records import MetricPoint, Run
from ..render import one_line
from ..store import INTERRUPTED_MESSAGE, Store
from .verdict import ExecutionError

ENV_REPLAY = "JUPYTER_TRACKER_REPLAY"
Progress = Callable[[int, int], None]


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


# ------------------------------------------------------------------ executing
def execute(execution: Execution) -> ExecutionResult:
    """Run one notebook to completion with papermill; the kernel records into ``execution.db``."""
    import papermill  # imported on use: it loads nbclient, jupyter_client and friends (~0.5 s)
    from papermill.exceptions import PapermillExecutionError

    started = time.perf_counter()
    error = None
    if not os.path.isdir(execution.cwd):
        error = ExecutionError(f"working directory {execution.cwd} does not exist")
        return ExecutionResult(execution, 0.0, error)
    Path(execution.output).parent.mkdir(parents=True, exist_ok=True)
    try:
        # The kernel gets its environment and working directory from its own manager, never from
        # this process's os.environ or cwd: executions run side by side in threads.
        papermill.execute_notebook(
            execution.notebook, execution.output, parameters=execution.parameters or None,
            kernel_name=execution.kernel_name, progress_bar=False, request_save_on_cell_execute=False,
            # papermill takes whole seconds: 2.5 would fail every cell, so round up.
            execution_timeout=None if execution.timeout is None else max(1, math.ceil(execution.timeout)),
            km=_kernel_manager(execution),
            resources={"metadata": {"path": execution.cwd}},
            # The kernel's own log (transport notices, the interrupt at shutdown) is not the user's.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except PapermillExecutionError as failure:
        error = ExecutionError(str(failure.evalue), failure.cell_index, failure.exec_count,
                               failure.ename, str(failure.evalue))
        if failure.cell_index is not None and _tagged_raising(execution.output, failure.cell_index):
            error = _unexpected_error(execution.output)
    except Exception as failure:  # noqa: BLE001  (a kernel that dies or times out is a failed execution)
        error = ExecutionError(f"{type(failure).__name__}: {one_line(failure)}")
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
    with tqdm(total=total, desc=description, unit="notebook", disable=not progress, file=sys.stderr) as bar:
        def finished(index: int, result: ExecutionResult) -> None:
            results[index] = result
            bar.update(1)
            if not result.ok:
                bar.write(f"failed: {Path(result.execution.output).name}: {result.error.text()}", file=sys.stderr)
            if on_progress is not None:
                on_progress(sum(r is not None for r in results), total)

        if scheduler:
            _run_on_dask(executions, scheduler, finished)
        elif workers <= 1 or total <= 1:
            for index, execution in enumerate(executions):
                finished(index, execute(execution))
        else:
            # Threads are enough: each execution's work happens in its own kernel process.
            with ThreadPoolExecutor(max_workers=min(workers, total), thread_name_prefix="jupyter-tracker") as pool:
                pending = {pool.submit(execute, e): i for i, e in enumerate(executions)}
                _collect(pending, finished)
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


def _kernel_manager(execution: Execution) -> Any:
    """A kernel manager that starts its kernel with this execution's environment."""
    import json

    environment = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    # (A rerun started from a notebook must not check hidden state against that notebook.)
    environment.update({ENV_DB: execution.db, ENV_SESSION: execution.session_id, ENV_TAGS: json.dumps(execution.tags)})
    if execution.replay:
        environment[ENV_REPLAY] = "1"
    else:
        environment.pop(ENV_REPLAY, None)
    return _manager_class()(kernel_name=execution.kernel_name, kernel_environment=environment)


@functools.cache
def _manager_class() -> type:
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Dict

    class KernelWithEnvironment(AsyncKernelManager):
        kernel_environment = Dict()

        async def start_kernel(self, **kwargs: Any) -> None:
            kwargs["env"] = dict(self.kernel_environment)
            await super().start_kernel(**kwargs)

    return KernelWithEnvironment


def in_replay() -> bool:
    """True inside a kernel started by ``rerun``: its history must not start reruns of its own."""
    return os.environ.get(ENV_REPLAY) == "1"

