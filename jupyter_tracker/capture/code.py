"""What a cell's code says: the names it reads and binds, its literal assignments, and the
kernel's execution history that produced the state it runs in."""

from __future__ import annotations

import ast
import functools
import json
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

# Top-level numeric assignments to these names are recorded as metrics (DESIGN "metrics").
METRIC_NAMES = frozenset({
    "acc", "accuracy", "balanced_accuracy", "auc", "roc_auc", "pr_auc", "f1", "f1_score", "precision", "recall",
    "loss", "val_loss", "train_loss", "test_loss", "mse", "rmse", "mae", "mape", "r2", "score", "val_score",
    "test_score", "train_score", "logloss", "log_loss", "error", "err", "val_acc", "test_acc", "train_acc",
    "val_accuracy", "test_accuracy", "train_accuracy", "top1", "top5",
})


@dataclass
class CellAnalysis:
    """Names a cell reads before binding them, names it binds at top level, and its literal params."""

    reads: list[str] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)
    literals: dict[str, Any] = field(default_factory=dict)


def analyse(tree: ast.Module) -> CellAnalysis:
    analysis = CellAnalysis()
    bound: set[str] = set()
    reads: dict[str, None] = {}
    for statement in tree.body:
        _collect_reads(statement, bound, reads)
        for target in _top_level_targets(statement):
            bound.add(target)
            if target not in analysis.binds:
                analysis.binds.append(target)
        literal = _literal_assignment(statement)
        if literal is not None:
            analysis.literals[literal[0]] = literal[1]
    analysis.reads = list(reads)
    return analysis


def _collect_reads(statement: ast.stmt, bound: set[str], reads: dict[str, None]) -> None:
    # A name counts as read when it is loaded before the cell itself binds it at top level.
    for node in _names_in(statement):
        if isinstance(node.ctx, ast.Load) and node.id not in bound:
            reads.setdefault(node.id, None)


def _names_in(tree: ast.AST) -> list[ast.Name]:
    """Every ``ast.Name`` in ``tree``, in ``ast.walk``'s breadth-first order.

    ``ast.walk`` nests two generators per node and visits every ``ctx``: it was 80% of analysing a cell
    (0.2 ms for 15 lines, every tracked cell, issue 7). This walk skips both and finds the same names.
    """
    names = []
    todo = deque([tree])
    while todo:
        node = todo.popleft()
        if isinstance(node, ast.Name):
            names.append(node)
            continue  # its only child is its ctx
        for attribute in node._fields:
            value = getattr(node, attribute, None)
            if isinstance(value, list):
                todo.extend(item for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST) and attribute != "ctx":
                todo.append(value)
    return names


def _top_level_targets(statement: ast.stmt) -> list[str]:
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
        targets = [statement.target]
    elif isinstance(statement, (ast.For, ast.AsyncFor)):
        targets = [statement.target]
    elif isinstance(statement, (ast.With, ast.AsyncWith)):
        targets = [item.optional_vars for item in statement.items if item.optional_vars is not None]
    elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    elif isinstance(statement, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).partition(".")[0] for alias in statement.names if alias.name != "*"]
    return [node.id for target in targets for node in _names_in(target)]


def _literal_assignment(statement: ast.stmt) -> tuple[str, Any] | None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target, value = statement.targets[0], statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        target, value = statement.target, statement.value
    else:
        return None
    if not isinstance(target, ast.Name):
        return None
    try:
        literal = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(literal, (set, frozenset, bytes, complex)):
        return None
    return target.id, literal


def papermill_parameters(history: list[str]) -> dict[str, Any]:
    """Literal assignments of the cells papermill injected into this kernel's history."""
    params: dict[str, Any] = {}
    for source in history:
        if _is_parameters_cell(source):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            params.update(analyse(tree).literals)
    return params


class HistoryDigest:
    """What every tracked cell needs of the kernel's history, kept up to date one new entry at a time.

    A kernel's history only grows, and each run looked at all of it: papermill's parameters, every
    source normalised and counted for the hidden-state check (4 ms of a tracked cell after 5,000
    executed cells, issue 12). ``update`` looks only at the entries added since its last call.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._seen = 0
        self._last: str | None = None
        self.papermill_params: dict[str, Any] = {}
        self.executed: list[str] = []  # normalised non-blank sources, in the order they ran
        self.counts: Counter[str] = Counter()
        self.repeated: dict[str, int] = {}  # sources run more than once -> where each first ran
        self._first: dict[str, int] = {}

    def update(self, history: list[str]) -> "HistoryDigest":
        seen = self._seen
        if len(history) < seen or (seen and history[seen - 1] is not self._last):
            self._reset()  # not the history seen so far (another kernel's): start over
            seen = 0
        for source in history[seen:]:
            normal = _normal(source)
            if normal:
                count = self.counts[normal] = self.counts[normal] + 1
                if count == 1:
                    self._first[normal] = len(self.executed)
                elif count == 2:
                    self.repeated[normal] = self._first[normal]
                self.executed.append(normal)
            if _is_parameters_cell(source):
                self.papermill_params.update(papermill_parameters([source]))
        if len(history) > seen:
            self._seen, self._last = len(history), history[-1]
        return self


def hidden_state(history: list[str], notebook_cells: list[str] | None,
                 digest: HistoryDigest | None = None) -> dict[str, Any]:
    """Whether ``history`` (ending with the tracked cell) is a clean top-to-bottom run of the notebook.

    With the notebook's code cells at hand, every executed source is matched to a cell: code that
    is in no cell (edited or deleted since), a cell run more than once, cells run out of order and
    cells above the tracked one that never ran are each a reason the state is hidden. Without the
    notebook (papermill, a console) only repeated executions can be seen.

    >>> hidden_state(["x = 1", "x += 1", "x += 1", "y = x"], None)["clean"]
    False
    """
    # ``digest`` (of this very history) saves normalising and counting every source again.
    digest = digest or HistoryDigest().update(history)
    executed = digest.executed
    reasons: list[str] = []
    if notebook_cells is None:
        for source in sorted(digest.repeated, key=digest.repeated.__getitem__):  # in the order first run
            reasons.append(f"a cell ran {digest.counts[source]} times: {_headline(source)}")
        return {"clean": not reasons, "checked_against_notebook": False, "reasons": reasons}

    cells = [_normal(source) for source in notebook_cells]
    where: dict[str, list[int]] = {}
    for index, source in enumerate(cells):
        where.setdefault(source, []).append(index)
    runs_of: Counter[int] = Counter()
    highest = -1
    for source in executed:
        candidates = where.get(source)
        if not candidates:
            reasons.append(f"ran code that is not in the notebook (edited or deleted since): {_headline(source)}")
            continue
        # Identical cells are matched in order, so two copies of one line run once each stay clean.
        index = next((i for i in candidates if runs_of[i] == 0 and i > highest), candidates[0])
        runs_of[index] += 1
        if runs_of[index] == 2:
            reasons.append(f"cell [{index + 1}] ran more than once: {_headline(source)}")
        elif index < highest:
            reasons.append(f"cell [{index + 1}] ran after cell [{highest + 1}] (out of order)")
        highest = max(highest, index)
    tracked = where.get(executed[-1], [None])[-1] if executed else None
    if tracked is not None:
        skipped = [i + 1 for i in range(tracked) if cells[i] and runs_of[i] == 0]
        if skipped:
            reasons.append(f"cells above never ran: {', '.join(f'[{i}]' for i in skipped)}")
    return {"clean": not reasons, "checked_against_notebook": True, "reasons": reasons}


def notebook_code_cells(path: str) -> list[str] | None:
    """The sources of a saved notebook's code cells, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            notebook = json.load(handle)
        return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# Every tracked cell looks at the kernel's whole history: without these caches that is O(history) string
# work per cell (2.5 ms of a tracked cell's cost after 900 executions, issue 7); each distinct source is
# looked at once. Sources are kept by the execution log anyway, so the caches add no copies of them.
@functools.lru_cache(maxsize=1 << 14)
def _is_parameters_cell(source: str) -> bool:
    # papermill's Python translator opens the injected cell with exactly this comment line.
    return source.lstrip().partition("\n")[0].rstrip() == "# Parameters"


@functools.lru_cache(maxsize=1 << 14)
def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _headline(source: str, width: int = 50) -> str:
    line = source.strip().splitlines()[0] if source.strip() else ""
    return repr(line if len(line) <= width else line[: width - 1] + "…")


class ExecutionLog:
    """Every cell this kernel executed, in the order it ran, raw (magics included).

    IPython's history leaves out executions made with ``store_history=False`` (nbval runs
    notebooks that way), yet they change the kernel's state just the same; a ``pre_run_cell``
    hook sees every non-silent execution. What ran before the extension was loaded comes
    from IPython's history, plus the cell that is loading it.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        manager = getattr(shell, "history_manager", None)
        raw = manager.input_hist_raw if manager else [""]
        # (execution count, source) of what ran before loading: where a seed set back then was set.
        self.before_load: list[tuple[int, str]] = [(i, s) for i, s in enumerate(raw) if i and s.strip()]
        running = getattr(getattr(getattr(shell, "displayhook", None), "exec_result", None), "info", None)
        source = getattr(running, "raw_cell", None)
        if source and source.strip() and (not self.before_load or self.before_load[-1][1] != source):
            self.before_load.append((getattr(shell, "execution_count", len(raw)), source))
        self.entries: list[str] = [source for _, source in self.before_load]
        # Positions in ``entries`` of the cells that raised: a replay lets them raise again, as a kernel
        # did when the user made a typo and ran the cell again fixed (issue 10).
        self.raised: list[int] = []
        self._last: int | None = None
        shell.events.register("pre_run_cell", self._record)
        shell.events.register("post_run_cell", self._outcome)

    def _record(self, info: Any) -> None:
        source = getattr(info, "raw_cell", None)
        self._last = None
        if source and source.strip():
            self._last = len(self.entries)
            self.entries.append(source)

    def _outcome(self, result: Any) -> None:
        failed = getattr(result, "error_in_exec", None) is not None or getattr(result, "error_before_exec", None)
        if failed and self._last is not None:
            self.raised.append(self._last)

    def close(self) -> None:
        self.shell.events.unregister("pre_run_cell", self._record)
        self.shell.events.unregister("post_run_cell", self._outcome)
