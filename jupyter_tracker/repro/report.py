"""The batch report: metrics per combination, whether repeats agree, and where they diverge.

Built from the store alone (the runs a batch tagged), so ``jupyter-tracker report BATCH``
shows the same report as the end of the batch. Repeats of one combination are compared
tracked cell by tracked cell, in the order the cells ran; the first cell whose records
differ is where the execution stopped being deterministic.
"""

from __future__ import annotations

import base64
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from html import escape
from typing import Any

from .batch import BATCH_TAG, COMBINATION_TAG, PARAMS_TAG, REPEAT_TAG
from ..render import format_value, last_line
from ..errors import UsageProblem
from ..records import Run
from .verdict import DEFAULT_ATOL, DEFAULT_RTOL, Difference, compare_runs


@dataclass
class ExecutionRecord:
    """One execution of the batch (a combination and a repeat) and the runs it recorded, in order."""

    combination: int
    repeat: int
    params: dict[str, Any]
    runs: list[Run] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Any cell raised (tracked or not: the execution's own record says so), or nothing was recorded."""
        return any(r.status != "finished" for r in self.runs) or not self.runs

    @property
    def tracked(self) -> list[Run]:
        """The runs of its tracked cells, in the order they ran (not the record of a failed execution)."""
        return [r for r in self.runs if r.source != "batch"]

    @property
    def error(self) -> str | None:
        for run in self.runs:
            if run.source == "batch" or run.status != "finished":
                lines = [w for w in run.warnings if w.startswith("execution failed")]
                return lines[0] if lines else last_line(run.error) or run.status
        return None

    def final_metrics(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for run in self.runs:
            values.update(run.metrics)
        return values


@dataclass
class Divergence:
    """Where the repeats of one combination stop agreeing."""

    position: int  # 0-based index of the tracked cell in execution order
    cell: str
    repeat: int
    differences: list[Difference]

    def text(self) -> str:
        what = "; ".join(d.text() for d in self.differences[:6])
        more = f" (+{len(self.differences) - 6} more)" if len(self.differences) > 6 else ""
        return f"first diverges at tracked cell {self.position + 1} '{self.cell}' (repeat {self.repeat}): {what}{more}"


@dataclass
class Combination:
    index: int
    params: dict[str, Any]
    executions: list[ExecutionRecord]
    divergence: Divergence | None = None

    @property
    def agree(self) -> bool:
        return self.divergence is None and not any(e.failed for e in self.executions)


class BatchReport:
    """A batch's results: ``str(report)``, HTML in a notebook, DataFrames, and ``to_html_page()``.

    For example::

        report = jupyter_tracker.batch("train.ipynb", grid={"depth": [3, 5]}, repeat=2)
        report.metrics_frame()
    """

    def __init__(self, batch_id: str, combinations: list[Combination], rtol: float, atol: float,
                 output_dir: str | None = None, strict: bool = False) -> None:
        self.batch_id = batch_id
        self.combinations = combinations
        self.rtol = rtol
        self.atol = atol
        self.output_dir = output_dir
        self.strict = strict

    # ---------------------------------------------------------------- facts
    @property
    def executions(self) -> list[ExecutionRecord]:
        return [e for c in self.combinations for e in c.executions]

    @property
    def failed(self) -> list[ExecutionRecord]:
        return [e for e in self.executions if e.failed]

    @property
    def all_agree(self) -> bool:
        return all(c.agree for c in self.combinations)

    @property
    def exit_code(self) -> int:
        """0: every execution finished and the repeats agree; 1: repeats disagree; 2: an execution failed."""
        if self.failed:
            return 2
        return 0 if self.all_agree else 1

    @property
    def grid_names(self) -> list[str]:
        names: list[str] = []
        for combination in self.combinations:
            names += [n for n in combination.params if n not in names]
        varying = [n for n in names if len({json.dumps(c.params.get(n), default=str) for c in self.combinations}) > 1]
        return varying or names

    @property
    def repeats(self) -> int:
        return max((len(c.executions) for c in self.combinations), default=0)

    # ---------------------------------------------------------------- frames
    def metrics_frame(self) -> Any:
        """Per combination and metric (final values of each execution): n, mean, std, min, max, spread."""
        import pandas as pd

        rows = []
        for combination in self.combinations:
            for name, (mean, std, low, high, n) in _metric_stats(combination, keep_empty=True).items():
                rows.append({
                    "combination": combination.index, **{f"params.{k}": v for k, v in combination.params.items()},
                    "metric": name, "n": n, "mean": mean, "std": std, "min": low, "max": high,
                    "spread": high - low, "agree": combination.agree,
                })
        return pd.DataFrame(rows)

    def executions_frame(self) -> Any:
        """One row per execution: combination, repeat, params, status, runs recorded, error, final metrics."""
        import pandas as pd

        rows = []
        for execution in self.executions:
            rows.append({
                "combination": execution.combination, "repeat": execution.repeat,
                **{f"params.{k}": v for k, v in execution.params.items()},
                "status": "failed" if execution.failed else "finished", "runs": len(execution.runs),
                "error": execution.error,
                **{f"metrics.{k}": v for k, v in execution.final_metrics().items()},
            })
        return pd.DataFrame(rows)

    def divergence_frame(self) -> Any:
        """One row per combination: whether its repeats agree, and where they first diverge."""
        import pandas as pd

        rows = []
        for combination in self.combinations:
            divergence = combination.divergence
            rows.append({
                "combination": combination.index, **{f"params.{k}": v for k, v in combination.params.items()},
                "agree": combination.agree,
                "cell": divergence.cell if divergence else None,
                "position": divergence.position + 1 if divergence else None,
                "what": "; ".join(d.text() for d in divergence.differences) if divergence else None,
            })
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id, "executions": len(self.executions), "failed": len(self.failed),
            "all_agree": self.all_agree, "rtol": self.rtol, "atol": self.atol,
            "combinations": [
                {"index": c.index, "params": c.params, "agree": c.agree,
                 "divergence": c.divergence.text() if c.divergence else None,
                 "failed": [e.repeat for e in c.executions if e.failed]}
                for c in self.combinations
            ],
        }

    # ------------------------------------------------------------ rendering
    def _headline(self) -> str:
        executions = len(self.executions)
        failed = len(self.failed)
        verdict = "repeats agree" if self.all_agree else "repeats DISAGREE"
        if self.repeats < 2:
            verdict = "one repeat each"
        return (f"batch {self.batch_id}: {len(self.combinations)} combination{'s' * (len(self.combinations) != 1)}"
                f" x {self.repeats} repeat{'s' * (self.repeats != 1)} = {executions} executions, "
                f"{failed} failed; {verdict}")

    def __str__(self) -> str:
        lines = [self._headline()]
        for combination in self.combinations:
            params = ", ".join(f"{k}={format_value(v, 20)}" for k, v in combination.params.items()) or "(no params)"
            state = "agree" if combination.agree else "DISAGREE"
            if len(combination.executions) < 2 and not any(e.failed for e in combination.executions):
                state = "single"
            lines.append(f"  [{combination.index}] {params}: {state}")
            stats = _metric_stats(combination)
            for name, (mean, std, low, high, n) in stats.items():
                spread = f" ± {std:.3g} [{low:.6g}, {high:.6g}]" if n > 1 else ""
                lines.append(f"      {name} = {mean:.6g}{spread}  (n={n})")
            for execution in combination.executions:
                if execution.failed:
                    lines.append(f"      repeat {execution.repeat} FAILED: {execution.error}")
            if combination.divergence:
                lines.append(f"      {combination.divergence.text()}")
        if self.output_dir:
            lines.append(f"executed notebooks: {self.output_dir}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self._html_body(charts=False)

    def _html_body(self, charts: bool) -> str:
        colour = "#2e7d32" if self.all_agree and not self.failed else "#c62828"
        parts = [f'<div class="jupyter-tracker-batch"><h3 style="color:{colour}">{escape(self._headline())}</h3>',
                 "<table><tr><th>#</th><th>params</th><th>repeats</th><th>metrics (mean ± std [min, max])</th>"
                 "<th>agree</th><th>divergence / failures</th></tr>"]
        for combination in self.combinations:
            params = ", ".join(f"{k}={format_value(v, 20)}" for k, v in combination.params.items())
            metrics = "<br>".join(
                escape(f"{name} = {mean:.6g} ± {std:.3g} [{low:.6g}, {high:.6g}]")
                for name, (mean, std, low, high, n) in _metric_stats(combination).items())
            notes = [combination.divergence.text()] if combination.divergence else []
            notes += [f"repeat {e.repeat} failed: {e.error}" for e in combination.executions if e.failed]
            agree = "yes" if combination.agree else "<b style='color:#c62828'>no</b>"
            parts.append(f"<tr><td>{combination.index}</td><td>{escape(params)}</td>"
                         f"<td>{len(combination.executions)}</td><td>{metrics}</td><td>{agree}</td>"
                         f"<td>{'<br>'.join(escape(n) for n in notes)}</td></tr>")
        parts.append("</table>")
        if charts:
            for title, figure in self.figures():
                parts.append(f"<h4>{escape(title)}</h4><img alt='{escape(title)}' src='data:image/png;base64,"
                             f"{_png_base64(figure)}'>")
        parts.append("</div>")
        return "".join(parts)

    def figures(self) -> list[tuple[str, Any]]:
        """(title, matplotlib Figure): each metric against each grid parameter, and its spread over repeats."""
        from ..views import plots  # matplotlib and pandas load only when the report's charts are asked for

        frame = self.executions_frame()
        if frame.empty:
            return []
        figures = []
        metrics = sorted(c[len("metrics."):] for c in frame.columns if c.startswith("metrics."))
        params = [f"params.{n}" for n in self.grid_names if f"params.{n}" in frame.columns]
        for metric in metrics:
            for param in params:
                figures.append((f"{metric} against {param[len('params.'):]}",
                                plots.plot_metric(frame, metric, by=param[len("params."):])))
            if self.repeats > 1:
                figures.append((f"{metric}: spread over repeats", plots.plot_spread(frame, metric, by=params)))
        return figures

    def to_html_page(self) -> str:
        """One self-contained HTML page (charts embedded as PNG)."""
        return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
                f"<title>batch {escape(self.batch_id)}</title><style>"
                "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
                "</style></head><body>" + self._html_body(charts=True) + "</body></html>")


def build_report(store: Any, batch_id: str, rtol: float | None = None, atol: float | None = None,
                 output_dir: str | None = None, strict: bool = False) -> BatchReport:
    """Read a batch's runs from the store and work out agreement and divergence."""
    rtol = DEFAULT_RTOL if rtol is None else rtol
    atol = DEFAULT_ATOL if atol is None else atol
    run_ids = store.tagged_runs(BATCH_TAG, batch_id)
    if not run_ids:
        raise UsageProblem(f"no runs belong to batch '{batch_id}'")
    executions: dict[str, ExecutionRecord] = {}
    for run in (store.get_run(r) for r in run_ids):
        key = run.session_id or run.run_id
        if key not in executions:
            executions[key] = ExecutionRecord(int(run.tags.get(COMBINATION_TAG, 0)), int(run.tags.get(REPEAT_TAG, 0)),
                                              json.loads(run.tags.get(PARAMS_TAG, "{}")))
        executions[key].runs.append(run)
    by_combination: dict[int, list[ExecutionRecord]] = {}
    for execution in executions.values():
        execution.runs.sort(key=lambda r: (r.session_seq if r.session_seq is not None else 0, r.start))
        by_combination.setdefault(execution.combination, []).append(execution)
    combinations = []
    for index in sorted(by_combination):
        members = sorted(by_combination[index], key=lambda e: e.repeat)
        combination = Combination(index, members[0].params, members)
        combination.divergence = _first_divergence(members, rtol, atol, strict)
        combinations.append(combination)
    return BatchReport(batch_id, combinations, rtol, atol, output_dir, strict)


def _first_divergence(executions: list[ExecutionRecord], rtol: float, atol: float,
                      strict: bool = False) -> Divergence | None:
    """The earliest tracked cell at which any repeat's records differ from the first repeat's.

    Timings (``fit_time`` columns and the like) are noted with the first real difference but never
    make repeats disagree by themselves, unless ``strict``.
    """
    complete = [e.tracked for e in executions if e.tracked]
    repeats = [e.repeat for e in executions if e.tracked]
    if len(complete) < 2:
        return None
    reference = complete[0]
    earliest: Divergence | None = None
    for other, repeat in zip(complete[1:], repeats[1:]):
        for position in range(max(len(reference), len(other))):
            if earliest is not None and position >= earliest.position:
                break
            if position >= len(reference) or position >= len(other):
                shorter = repeats[0] if position >= len(reference) else repeat
                cell = (other if position >= len(reference) else reference)[position].name
                note = Difference("status", "tracked cells", len(reference), len(other),
                                  f"repeat {shorter} stopped before this cell")
                earliest = Divergence(position, cell, repeat, [note])
                break
            differences, _ = compare_runs(reference[position], other[position], rtol, atol, strict)
            if any(d.counts for d in differences):
                earliest = Divergence(position, reference[position].name, repeat, differences)
                break
    return earliest


def _metric_stats(combination: Combination, keep_empty: bool = False
                  ) -> dict[str, tuple[float, float, float, float, int]]:
    """Per metric, over the combination's executions: (mean, std, min, max, n) of the finite final values.

    A metric with no finite value is left out, or with ``keep_empty`` given as NaNs and n = 0.
    """
    per_metric: dict[str, list[float]] = {}
    for execution in combination.executions:
        for name, value in execution.final_metrics().items():
            finite = per_metric.setdefault(name, [])
            if value is not None and not math.isnan(value):
                finite.append(value)
    stats = {}
    for name, values in per_metric.items():
        if values:
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            stats[name] = (statistics.fmean(values), std, min(values), max(values), len(values))
        elif keep_empty:
            stats[name] = (math.nan, math.nan, math.nan, math.nan, 0)
    return stats


def _png_base64(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")

