"""The notebook a rerun executes: a run's execution history, rebuilt as code cells.

Pure (no execution, no store): ``rerun`` executes it and ``push`` uploads it beside a pushed run.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageProblem
from ..records import Run

DEFAULT_KERNEL = "python3"
RAISES = "raises-exception"  # nbclient's tag for a cell allowed to raise; papermill still reports it


def build_replay(run: Run) -> Any:
    """A notebook whose code cells are the run's execution history, in the order the kernel ran them."""
    import nbformat

    if run.source != "cell":
        raise UsageProblem(f"run {run.short_id} was recorded by a script, not a tracked cell: "
                           "only notebook runs have an execution history to replay")
    if not run.history:
        raise UsageProblem(f"run {run.short_id} has no recorded execution history")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": DEFAULT_KERNEL, "display_name": "Python 3", "language": "python"}
    notebook.metadata["jupyter_tracker"] = {"replay_of": run.run_id}
    calls = _reproduction_calls(run.history)
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "# jupyter_tracker: not replayed (it reruns, batches, promotes or rolls back by itself):\n"
            + "\n".join(f"# {line}" for line in source.splitlines())
            if calls.search(source) else source)
        for source in run.history
    ]
    # Cells that raised in the original kernel (a typo, run again fixed) may raise in the replay too.
    for index in (run.hidden_state or {}).get("raised", []):
        if 0 <= index < len(notebook.cells) - 1:
            notebook.cells[index].metadata["tags"] = [RAISES]
    return notebook


_NOT_REPLAYED = ("rerun", "batch", "promote", "rollback")


def _reproduction_calls(history: list[str]) -> "re.Pattern[str]":
    """Calls of rerun(), batch(), promote() or rollback() through the names jupyter_tracker was imported as.

    A replay must not start replays of its own (re-executing such a cell would re-run earlier
    runs again, nested, at every level), nor move the model registry a second time.
    """
    modules, functions = {"jupyter_tracker"}, set()
    for source in history:
        modules.update(re.findall(r"^\s*import\s+jupyter_tracker\s+as\s+(\w+)", source, re.M))
        for names in re.findall(r"^\s*from\s+jupyter_tracker(?:\.api)?\s+import\s+\(?([\w\s,]+)", source, re.M):
            for item in names.split(","):
                parts = item.split()
                if parts and parts[0] in _NOT_REPLAYED:
                    functions.add(parts[-1])
    names = "|".join(_NOT_REPLAYED)
    alternatives = [rf"\b{re.escape(m)}\s*\.\s*(?:{names})\s*\(" for m in modules]
    alternatives += [rf"(?<![\w.]){re.escape(f)}\s*\(" for f in functions]
    alternatives.append(rf"^\s*!\s*jupyter[- ]tracker\s+(?:{names})\b")
    return re.compile("|".join(alternatives), re.M)
