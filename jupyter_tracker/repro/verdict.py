"""Did a re-execution reproduce a run? The differences between two runs, and the verdict.

Used by ``rerun`` (original against each repeat) and by the batch report (the first repeat
of a combination against the others). Metrics agree when they are equal within ``rtol`` and
``atol``; everything else (params, seeds, data fingerprints) must be identical.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from ..models.compare import same_value
from ..render import format_value, last_line
from ..records import Run

# "Exact within floating noise": summation order and BLAS threading move the last bits only.
DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 1e-12

REPRODUCED, DIFFERS, FAILED = "REPRODUCED", "DIFFERS", "COULD NOT EXECUTE"
EXIT_CODES = {REPRODUCED: 0, DIFFERS: 1, FAILED: 2}


@dataclass(frozen=True)
class Difference:
    """One thing that differs between an original run and a re-execution."""

    kind: str  # "status" | "param" | "seed" | "input" | "output" | "metric"
    name: str
    original: Any
    new: Any
    detail: str = ""
    abs_diff: float | None = None
    rel_diff: float | None = None
    counts: bool = True  # False for timings (fit and score times, durations): reported, not a difference

    def text(self) -> str:
        line = f"{self.kind:<7} {self.name}: {_show(self.original)} -> {_show(self.new)}"
        line += f" ({self.detail})" if self.detail else ""
        return line if self.counts else line + " [timings only: not counted without --strict]"


@dataclass(frozen=True)
class MetricComparison:
    name: str
    original: float | None
    new: float | None
    abs_diff: float | None
    rel_diff: float | None
    agrees: bool


@dataclass(frozen=True)
class ExecutionError:
    """Why a notebook could not be executed: the failing cell and its exception."""

    message: str
    cell_index: int | None = None
    exec_count: int | None = None
    ename: str | None = None
    evalue: str | None = None

    def text(self) -> str:
        if self.ename is None:
            return self.message
        where = f"cell {self.cell_index + 1}" if self.cell_index is not None else "a cell"
        where += f" (In[{self.exec_count}])" if self.exec_count else ""
        return f"{where} raised {self.ename}: {self.evalue}"


@dataclass
class Attempt:
    """One re-execution: the run it recorded (if any) and how it compares."""

    run_id: str | None
    output: str | None
    seconds: float
    error: ExecutionError | None = None
    differences: list[Difference] = field(default_factory=list)
    metrics: list[MetricComparison] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error is not None or self.run_id is None:
            return FAILED
        return DIFFERS if any(d.counts for d in self.differences) else REPRODUCED


def compare_runs(original: Run, new: Run, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                 strict: bool = False) -> tuple[list[Difference], list[MetricComparison]]:
    """Everything that differs between two runs of the same cell, and every metric side by side.

    Data present on one side only, or fingerprinted on one side only, is a difference. An output
    whose only changed columns are timings (``fit_time``, ``mean_score_time``, ``duration``, ...)
    is reported with ``counts=False`` unless ``strict``: timings never repeat.
    """
    differences: list[Difference] = []
    if original.status != new.status:
        differences.append(Difference("status", "status", original.status, new.status,
                                      last_line(new.error) or "" if new.error else ""))
    for name in _union(original.params, new.params):
        old, now = original.params.get(name, _MISSING), new.params.get(name, _MISSING)
        if not same_value(old, now):
            differences.append(Difference("param", name, old, now))
    old_seeds = [(s.source, s.value) for s in original.seeds]
    new_seeds = [(s.source, s.value) for s in new.seeds]
    if old_seeds != new_seeds:
        for position in range(max(len(old_seeds), len(new_seeds))):
            old = old_seeds[position] if position < len(old_seeds) else (None, _MISSING)
            now = new_seeds[position] if position < len(new_seeds) else (None, _MISSING)
            if old != now:
                differences.append(Difference("seed", old[0] or now[0], old[1], now[1]))
    for role, before, after in (("input", original.inputs, new.inputs), ("output", original.outputs, new.outputs)):
        old_refs = {r.name: r for r in before}
        new_refs = {r.name: r for r in after}
        for name in _union(old_refs, new_refs):
            old_ref, new_ref = old_refs.get(name), new_refs.get(name)
            old_fp = old_ref.fingerprint if old_ref else None
            new_fp = new_ref.fingerprint if new_ref else None
            if old_ref is None or new_ref is None:
                differences.append(Difference(role, name, _hash(old_fp) if old_ref else _MISSING,
                                              _hash(new_fp) if new_ref else _MISSING,
                                              "only in the original" if new_ref is None else "only in the new run"))
            elif (old_fp is None) != (new_fp is None):
                note = (new_ref if new_fp is None else old_ref).note or ""
                differences.append(Difference(role, name, _hash(old_fp), _hash(new_fp), note))
            elif old_fp is not None and new_fp is not None and old_fp.hash != new_fp.hash:
                columns = new_fp.changed_columns(old_fp)
                shown = [f"{c} (timing)" if role == "output" and is_timing(c) else c for c in columns]
                detail = f"columns changed: {', '.join(shown)}" if columns else ""
                if old_fp.shape != new_fp.shape:
                    detail = "; ".join(filter(None, [f"shape {old_fp.shape} -> {new_fp.shape}", detail]))
                timings = role == "output" and old_fp.shape == new_fp.shape and (
                    all(is_timing(c) for c in columns) if columns else is_timing(name))
                differences.append(Difference(role, name, old_fp.hash[:12], new_fp.hash[:12], detail,
                                              counts=strict or not timings))
    metrics = []
    for name in _union(original.metrics, new.metrics):
        old, now = original.metrics.get(name), new.metrics.get(name)
        comparison = _compare_metric(name, old, now, rtol, atol)
        metrics.append(comparison)
        if not comparison.agrees:
            detail = ""
            if comparison.abs_diff is not None:
                detail = f"abs {comparison.abs_diff:.3g}" + (
                    f", rel {comparison.rel_diff:.3g}" if comparison.rel_diff is not None else "")
            differences.append(Difference("metric", name, _MISSING if old is None else old,
                                          _MISSING if now is None else now, detail,
                                          comparison.abs_diff, comparison.rel_diff))
    return differences, metrics


class Verdict:
    """Whether re-executing a run from its recorded history reproduced it (``rerun``'s result).

    For example::

        verdict = jupyter_tracker.rerun("1a2b", repeat=2)
        verdict.reproduced, verdict.exit_code
        (True, 0)
    """

    def __init__(self, original: Run, attempts: list[Attempt], rtol: float, atol: float,
                 replay: str | None = None) -> None:
        self.original = original
        self.attempts = attempts
        self.rtol = rtol
        self.atol = atol
        self.replay = replay  # the notebook built from the recorded history

    @property
    def status(self) -> str:
        statuses = {a.status for a in self.attempts}
        if FAILED in statuses or not self.attempts:
            return FAILED
        return DIFFERS if DIFFERS in statuses else REPRODUCED

    @property
    def reproduced(self) -> bool:
        return self.status == REPRODUCED

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def rerun_ids(self) -> list[str]:
        return [a.run_id for a in self.attempts if a.run_id]

    def differences_frame(self) -> Any:
        """One row per difference: attempt, rerun, kind, name, original, new, detail, abs_diff, rel_diff."""
        import pandas as pd

        rows = [{"attempt": i + 1, "rerun": a.run_id, **asdict(d)}
                for i, a in enumerate(self.attempts) for d in a.differences]
        columns = ["attempt", "rerun", "kind", "name", "original", "new", "detail", "abs_diff", "rel_diff"]
        return pd.DataFrame(rows, columns=columns).astype({"original": object, "new": object})

    def metrics_frame(self) -> Any:
        """One row per attempt and metric: original, new, abs_diff, rel_diff, agrees."""
        import pandas as pd

        rows = [{"attempt": i + 1, "rerun": a.run_id, **asdict(m)}
                for i, a in enumerate(self.attempts) for m in a.metrics]
        columns = ["attempt", "rerun", "name", "original", "new", "abs_diff", "rel_diff", "agrees"]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "exit_code": self.exit_code, "original": self.original.run_id,
            "name": self.original.name, "rtol": self.rtol, "atol": self.atol, "replay": self.replay,
            "attempts": [
                {"status": a.status, "run_id": a.run_id, "output": a.output, "seconds": a.seconds,
                 "error": asdict(a.error) if a.error else None,
                 "differences": [_plain(asdict(d)) for d in a.differences],
                 "metrics": [_plain(asdict(m)) for m in a.metrics]}
                for a in self.attempts
            ],
        }

    # ------------------------------------------------------------ rendering
    def _headline(self) -> str:
        run = self.original
        repeats = len(self.attempts)
        return (f"{self.status}: run {run.short_id} '{run.name}' re-executed {repeats} time{'s' * (repeats != 1)} "
                f"from its recorded history ({len(run.history)} cells)")

    def __str__(self) -> str:
        lines = [self._headline()]
        for number, attempt in enumerate(self.attempts, 1):
            rerun = attempt.run_id[:8] if attempt.run_id else "-"
            lines.append(f"  attempt {number} (rerun {rerun}, {attempt.seconds:.1f} s): {attempt.status}")
            if attempt.error is not None:
                lines.append(f"    {attempt.error.text()}")
                if attempt.output:
                    lines.append(f"    executed notebook kept at {attempt.output}")
            for difference in attempt.differences:
                lines.append(f"    {difference.text()}")
        metrics = [m for a in self.attempts[:1] for m in a.metrics]
        if metrics and self.status == REPRODUCED:
            shown = ", ".join(f"{m.name}={format_value(m.new)}" for m in metrics)
            lines.append(f"  metrics equal within rtol={self.rtol:g}, atol={self.atol:g}: {shown}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {REPRODUCED: "#2e7d32", DIFFERS: "#c62828", FAILED: "#ef6c00"}[self.status]
        parts = [f'<div class="jupyter-tracker-verdict" style="border-left:4px solid {colour};padding:4px 8px">',
                 f'<b style="color:{colour}">{escape(self.status)}</b> {escape(self._headline().split(": ", 1)[1])}']
        for number, attempt in enumerate(self.attempts, 1):
            rerun = attempt.run_id[:8] if attempt.run_id else "-"
            parts.append(f"<div>attempt {number} (rerun <code>{escape(rerun)}</code>, {attempt.seconds:.1f} s): "
                         f"<b>{escape(attempt.status)}</b></div>")
            if attempt.error is not None:
                parts.append(f"<div style='color:#c62828'>{escape(attempt.error.text())}</div>")
            if attempt.differences:
                parts.append("<table><tr><th>kind</th><th>name</th><th>original</th><th>new</th><th>detail</th></tr>")
                for d in attempt.differences:
                    parts.append(f"<tr><td>{escape(d.kind)}</td><td>{escape(d.name)}</td>"
                                 f"<td>{escape(_show(d.original))}</td><td>{escape(_show(d.new))}</td>"
                                 f"<td>{escape(d.detail)}</td></tr>")
                parts.append("</table>")
        parts.append("</div>")
        return "".join(parts)


# ---------------------------------------------------------------- helpers
_TIMING_WORDS = frozenset({"time", "times", "duration", "durations", "elapsed", "seconds", "secs", "timestamp",
                           "timestamps", "runtime", "walltime", "latency"})


def is_timing(column: str) -> bool:
    """Whether a column (or output) name says it holds timings, which no two executions share.

    >>> [is_timing(c) for c in ("fit_time", "mean_score_time", "duration", "param_max_depth", "timeline")]
    [True, True, True, False, False]
    """
    return any(word in _TIMING_WORDS for word in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", column).lower()))


class _Missing:
    def __repr__(self) -> str:
        return "(none)"


_MISSING = _Missing()


def _compare_metric(name: str, old: float | None, now: float | None, rtol: float, atol: float) -> MetricComparison:
    if old is None or now is None:
        return MetricComparison(name, old, now, None, None, False)
    if math.isnan(old) or math.isnan(now):
        return MetricComparison(name, old, now, None, None, math.isnan(old) and math.isnan(now))
    if old == now:  # equal infinities included
        return MetricComparison(name, old, now, 0.0, 0.0, True)
    absolute = abs(now - old)
    relative = absolute / abs(old) if old not in (0.0,) and math.isfinite(old) else None
    agrees = math.isfinite(absolute) and absolute <= atol + rtol * abs(old)
    return MetricComparison(name, old, now, absolute, relative, agrees)


def _union(first: dict, second: dict) -> list[str]:
    return list(first) + [k for k in second if k not in first]


def _hash(fingerprint: Any) -> str:
    return fingerprint.hash[:12] if fingerprint is not None else "(not fingerprinted)"


def _show(value: Any) -> str:
    return repr(value) if value is _MISSING else format_value(value, 40)




def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v is _MISSING else v) for k, v in record.items()}
