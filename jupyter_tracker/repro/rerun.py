"""``rerun``: re-execute a run from its recorded history in fresh kernels and compare.

Each attempt is one papermill execution of the replay notebook (``models.replay``) through the
engine; the run it recorded is compared with the original (``verdict.compare_runs``).
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import UsageProblem, positive_int
from ..models.replay import build_replay
from ..records import Run
from ..store import Store
from .engine import DEFAULT_KERNEL, Execution, ExecutionResult, Progress, new_session_id, run_all
from .verdict import DEFAULT_ATOL, DEFAULT_RTOL, Attempt, ExecutionError, Verdict, compare_runs


def rerun(
    store: Store, run_id: str, repeat: int = 1, rtol: float | None = None, atol: float | None = None,
    kernel_name: str = DEFAULT_KERNEL, timeout: float | None = None, workers: int = 1,
    progress: bool = True, on_progress: Progress | None = None, strict: bool = False,
) -> Verdict:
    """Re-execute a run from its recorded history ``repeat`` times; compare each rerun with it."""
    import nbformat

    positive_int("repeat", repeat, of="executions")
    rtol = DEFAULT_RTOL if rtol is None else _tolerance("rtol", rtol)
    atol = DEFAULT_ATOL if atol is None else _tolerance("atol", atol)
    original = store.get_run(run_id)
    store.check_integrity()  # no execution may write into a damaged store (issue 13)
    notebook = build_replay(original)
    folder = store.path.parent / "reruns"
    folder.mkdir(parents=True, exist_ok=True)
    replay_path = folder / f"{original.short_id}-replay.ipynb"
    nbformat.write(notebook, str(replay_path))
    cwd = original.environment.get("cwd") or os.getcwd()
    executions = []
    for _ in range(repeat):
        session = new_session_id()
        executions.append(Execution(
            notebook=str(replay_path), output=str(folder / f"{original.short_id}-{session}.ipynb"), cwd=cwd,
            db=str(store.path), session_id=session, tags={"replay_of": original.run_id},
            kernel_name=kernel_name, timeout=timeout, replay=True,
        ))
    results = run_all(executions, workers=workers, progress=progress, on_progress=on_progress,
                      description=f"rerun {original.short_id}")
    attempts = [_attempt(store, original, result, rtol, atol, strict) for result in results]
    return Verdict(original, attempts, rtol, atol, replay=str(replay_path))


def _attempt(store: Store, original: Run, result: ExecutionResult, rtol: float, atol: float,
             strict: bool = False) -> Attempt:
    session_runs = [store.get_run(r) for r in store.session_runs(result.execution.session_id)]
    # The tracked cell is the last entry of its own history, so its rerun is the session's last run of that name.
    matching = [r for r in session_runs if r.name == original.name and r.source == "cell"]
    attempt = Attempt(run_id=None, output=result.execution.output, seconds=result.seconds, error=result.error)
    if not matching:
        if attempt.error is None:
            attempt.error = ExecutionError(f"the re-execution recorded no run named '{original.name}'")
        return attempt
    new = matching[-1]
    failed_as_before = (original.status == "failed" and attempt.error is not None
                        and attempt.error.cell_index == len(original.history) - 1)
    if failed_as_before:
        attempt.error = None  # the tracked cell raised originally too: compare what it recorded
    store.link_rerun(new.run_id, original.run_id)
    attempt.run_id = new.run_id
    attempt.differences, attempt.metrics = compare_runs(original, new, rtol, atol, strict)
    return attempt


def _tolerance(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageProblem(f"{name} must be a number, not {value!r}") from None
    if not number >= 0:
        raise UsageProblem(f"{name} must be zero or positive, not {value!r}")
    return number
