"""Parameter grids: every combination x repeat of a notebook, executed in parallel by papermill.

Each execution is a fresh kernel whose tracked cells record into the store, tagged with the
batch id, the combination and the repeat; its executed notebook is kept in the output
directory. An execution that fails before recording anything is recorded as a failed run
of source ``batch``, so that ``report`` can show it later.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from pathlib import Path
from typing import Any

from ..errors import UsageProblem, positive_int
from ..capture.recorder import Recorder
from .engine import DEFAULT_KERNEL, Execution, ExecutionResult, Progress, new_session_id, run_all

BATCH_TAG = "batch"
COMBINATION_TAG = "batch_combination"
REPEAT_TAG = "batch_repeat"
PARAMS_TAG = "batch_params"


def parse_value(text: str) -> Any:
    """A parameter value as papermill's ``-p`` reads it: int, float, bool, None, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_grid(specs: list[str]) -> dict[str, list[Any]]:
    """``["lr=0.1,0.01", "depth=3,5"]`` -> ``{"lr": [0.1, 0.01], "depth": [3, 5]}``."""
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, equals, values = spec.partition("=")
        name = name.strip()
        if not equals or not name.isidentifier() or not values.strip():
            raise UsageProblem(f"--grid expects NAME=V1,V2,... with a Python name, got '{spec}'")
        if name in grid:
            raise UsageProblem(f"--grid names '{name}' twice")
        grid[name] = [parse_value(v) for v in values.split(",")]
    return grid


def combinations(parameters: dict[str, Any], grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, each with the fixed parameters; one (the fixed ones) without a grid."""
    for name in list(parameters) + list(grid):
        if not isinstance(name, str) or not name.isidentifier():
            raise UsageProblem(f"parameter name '{name}' is not a Python name")
    overlap = set(parameters) & set(grid)
    if overlap:
        raise UsageProblem(f"'{sorted(overlap)[0]}' is given both as a parameter and as a grid")
    names = list(grid)
    return [{**parameters, **dict(zip(names, values))} for values in itertools.product(*grid.values())]


def run_batch(
    store: Any, notebook: str | os.PathLike, parameters: dict[str, Any] | None = None,
    grid: dict[str, list[Any]] | None = None, repeat: int = 1, workers: int | None = None,
    output_dir: str | os.PathLike | None = None, scheduler: str | None = None,
    kernel_name: str = DEFAULT_KERNEL, timeout: float | None = None, progress: bool = True,
    on_progress: Progress | None = None,
) -> tuple[str, list[ExecutionResult]]:
    """Execute the notebook for every combination x repeat; return the batch id and the results."""
    path = Path(notebook).expanduser().absolute()
    if not path.is_file():
        raise UsageProblem(f"notebook {notebook} does not exist")
    if path.suffix != ".ipynb":
        raise UsageProblem(f"{notebook} is not a notebook (.ipynb)")
    positive_int("repeat", repeat, of="executions")
    if workers is None:
        workers = os.cpu_count() or 1
    positive_int("workers", workers)
    store.check_integrity()  # no execution may write into a damaged store (issue 13)
    batch_id = secrets.token_hex(6)
    combos = combinations(dict(parameters or {}), dict(grid or {}))
    folder = Path(output_dir).absolute() if output_dir else Path.cwd() / f"batch-{batch_id}"
    folder.mkdir(parents=True, exist_ok=True)
    executions = []
    for index, combo in enumerate(combos):
        for rep in range(repeat):
            label = "-".join(f"{k}={_slug(v)}" for k, v in combo.items()) or "run"
            executions.append(Execution(
                notebook=str(path), output=str(folder / f"{path.stem}-{index:03d}-{label}-r{rep}.ipynb"),
                cwd=str(path.parent), db=str(store.path), session_id=new_session_id(), parameters=combo,
                tags={BATCH_TAG: batch_id, COMBINATION_TAG: str(index), REPEAT_TAG: str(rep),
                      PARAMS_TAG: _params_json(combo)},
                kernel_name=kernel_name, timeout=timeout,
            ))
    results = run_all(executions, workers=workers, scheduler=scheduler, progress=progress,
                      on_progress=on_progress, description=f"batch {batch_id}")
    for result in results:
        if not result.ok:
            _record_failure(store, path, result)
    return batch_id, results


def _record_failure(store: Any, notebook: Path, result: ExecutionResult) -> None:
    """A failed execution shows in the store and the report with its cell and error, whichever cell
    raised: before any tracked cell, in one, or in an untracked cell after them (issue 10)."""
    execution = result.execution
    recorded = len(store.session_runs(execution.session_id))
    recorder = Recorder(store, notebook.stem, experiment=None, source="batch", tags=execution.tags,
                        session=(execution.session_id, recorded + 1))
    recorder.log_params(execution.parameters)
    recorder.warnings.append(f"execution failed: {result.error.text()}; notebook kept at {execution.output}")
    recorder.finish("failed", error=_ExecutionFailed(result.error.text()), code="", history=[],
                    environment={"cwd": execution.cwd, "notebook": str(notebook)})


class _ExecutionFailed(Exception):
    pass


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value))[:30]


def _params_json(combo: dict[str, Any]) -> str:
    import json

    return json.dumps(combo, sort_keys=True, default=str)
