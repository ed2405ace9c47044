"""What a cell's code says: the names it reads and binds, its literal assignments, and the
kernel's execution history that produced the state it runs in."""

from __future__ import annotations

import ast
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
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            reads.setdefault(node.id, None)


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
    names = []
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.append(node.id)
    return names


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
        # papermill's Python translator opens the injected cell with exactly this comment line.
        if source.lstrip().partition("\n")[0].rstrip() == "# Parameters":
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            params.update(analyse(tree).literals)
    return params
