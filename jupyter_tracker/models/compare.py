"""Side-by-side comparison of runs: what differs, and by how much.

The first run is the reference: metric deltas and code diffs are taken against it.
"""

from __future__ import annotations

import difflib
import math
import numbers
from html import escape
from typing import Any

from ..render import format_number, format_value
from ..records import Run

MISSING = "—"


class Comparison:
    """Params, seeds, data, metrics, code and packages of several runs.

    For example::

        comparison = compare("3f2a", "9be0")
        comparison.differing_params()
    """

    def __init__(self, runs: list[Run]) -> None:
        self.runs = runs
        self.ids = [run.short_id for run in runs]

    # ------------------------------------------------------------------ rows
    def param_rows(self) -> list[tuple[str, list[Any], bool]]:
        return _rows([run.params for run in self.runs])

    def seed_rows(self) -> list[tuple[str, list[Any], bool]]:
        return _rows([{seed.source: seed.value for seed in run.seeds} for run in self.runs])

    def metric_rows(self) -> list[tuple[str, list[Any], list[float | None], bool]]:
        rows = []
        for key, values, differs in _rows([run.metrics for run in self.runs]):
            reference = values[0]
            deltas = [
                None if reference is MISSING or v is MISSING or _nan(v) or _nan(reference)
                else 0.0 if v == reference else v - reference  # two equal infinities differ by nothing
                for v in values
            ]
            rows.append((key, values, deltas, differs))
        return rows

    def data_rows(self) -> list[tuple[str, list[Any], bool]]:
        """One row per (role, name): the fingerprint of each run, and the columns that changed."""
        by_key: list[dict[str, Any]] = []
        fingerprints: list[dict[str, Any]] = []
        for run in self.runs:
            cells, fps = {}, {}
            for ref in [*run.inputs, *run.outputs]:
                key = f"{ref.role}: {ref.name}"
                fps[key] = ref.fingerprint
                if ref.fingerprint is None:
                    cells[key] = "not fingerprinted"
                else:
                    shape = "x".join(map(str, ref.fingerprint.shape))
                    cells[key] = f"{ref.fingerprint.hash[:12]} ({shape})"
            by_key.append(cells)
            fingerprints.append(fps)
        rows = []
        for key, values, differs in _rows(by_key):
            reference = fingerprints[0].get(key)
            annotated = []
            for value, fps in zip(values, fingerprints):
                fp = fps.get(key)
                if reference is not None and fp is not None and fp.hash != reference.hash and fp.columns:
                    changed = fp.changed_columns(reference)
                    if changed:
                        value = f"{value} changed: {', '.join(changed[:8])}"
                annotated.append(value)
            rows.append((key, annotated, differs))
        return rows

    def package_rows(self) -> list[tuple[str, list[Any], bool]]:
        return [row for row in _rows([run.environment.get("packages") or {} for run in self.runs]) if row[2]]

    def environment_rows(self) -> list[tuple[str, list[Any], bool]]:
        def summary(run: Run) -> dict[str, Any]:
            env, git = run.environment, run.environment.get("git") or {}
            return {"python": env.get("python", MISSING), "host": env.get("host", MISSING),
                    "git commit": (git.get("commit") or MISSING)[:12], "git dirty": git.get("dirty", MISSING),
                    "status": run.status, "duration (s)": round(run.duration or 0, 3)}
        return _rows([summary(run) for run in self.runs])

    def code_diffs(self) -> list[tuple[str, str]]:
        """Unified diff of each run's cell code against the first run's."""
        first = self.runs[0]
        diffs = []
        for run in self.runs[1:]:
            diff = "".join(difflib.unified_diff(
                first.code.splitlines(keepends=True), run.code.splitlines(keepends=True),
                fromfile=first.short_id, tofile=run.short_id,
            ))
            diffs.append((run.short_id, diff))
        return diffs

    def differing_params(self) -> list[str]:
        return [key for key, _, differs in self.param_rows() if differs]

    # ------------------------------------------------------------ DataFrames
    def params_frame(self):
        return self._frame(self.param_rows())

    def metrics_frame(self):
        import pandas as pd

        rows = self.metric_rows()
        data = {rid: [row[1][i] for row in rows] for i, rid in enumerate(self.ids)}
        for i, rid in enumerate(self.ids[1:], start=1):
            data[f"delta {rid}"] = [row[2][i] for row in rows]
        frame = pd.DataFrame(data, index=[row[0] for row in rows])
        frame["differs"] = [row[3] for row in rows]
        return frame.replace({MISSING: None})

    def data_frame(self):
        return self._frame(self.data_rows())

    def _frame(self, rows):
        import pandas as pd

        frame = pd.DataFrame({rid: [row[1][i] for row in rows] for i, rid in enumerate(self.ids)},
                             index=[row[0] for row in rows])
        frame["differs"] = [row[2] for row in rows]
        return frame

    def to_dict(self) -> dict[str, Any]:
        def plain(rows):
            return [{"key": r[0], "values": [None if v is MISSING else v for v in r[1]], "differs": r[-1]}
                    for r in rows]
        metrics = [{"key": key, "values": [None if v is MISSING else v for v in values], "deltas": deltas,
                    "differs": differs} for key, values, deltas, differs in self.metric_rows()]
        return {
            "runs": [run.run_id for run in self.runs],
            "params": plain(self.param_rows()), "seeds": plain(self.seed_rows()), "metrics": metrics,
            "data": plain(self.data_rows()), "packages": plain(self.package_rows()),
            "environment": plain(self.environment_rows()),
            "code": [{"run": rid, "diff": diff} for rid, diff in self.code_diffs()],
        }

    # --------------------------------------------------------------- display
    def _sections(self) -> list[tuple[str, list[tuple[str, list[str], bool]]]]:
        metric_rows = []
        for key, values, deltas, differs in self.metric_rows():
            cells = [_show(values[0])] + [
                _show(v) + ("" if d is None or d == 0 else f" ({format_number(d, 4, signed=True)})")
                for v, d in zip(values[1:], deltas[1:])
            ]
            metric_rows.append((key, cells, differs))
        return [
            ("params", [(k, [_show(v) for v in vals], d) for k, vals, d in self.param_rows()]),
            ("seeds", [(k, [_show(v) for v in vals], d) for k, vals, d in self.seed_rows()]),
            ("metrics", metric_rows),
            ("data", [(k, [_show(v) for v in vals], d) for k, vals, d in self.data_rows()]),
            ("packages", [(k, [_show(v) for v in vals], d) for k, vals, d in self.package_rows()]),
            ("environment", [(k, [_show(v) for v in vals], d) for k, vals, d in self.environment_rows()]),
        ]

    def __str__(self) -> str:
        lines = [f"comparing {len(self.runs)} runs: " + ", ".join(
            f"{run.short_id} ({run.name})" for run in self.runs)]
        for title, rows in self._sections():
            if not rows:
                continue
            lines.append(f"\n{title}:")
            widths = [max(len(r[0]) for r in rows)] + [
                max(len(self.ids[i]), *(len(r[1][i]) for r in rows)) for i in range(len(self.ids))
            ]
            lines.append("  " + "  ".join(["".ljust(widths[0]), *(rid.ljust(w) for rid, w in zip(self.ids, widths[1:]))]))
            for key, cells, differs in rows:
                mark = "*" if differs else " "
                lines.append(mark + " " + "  ".join([key.ljust(widths[0]), *(c.ljust(w) for c, w in zip(cells, widths[1:]))]).rstrip())
        for rid, diff in self.code_diffs():
            lines.append(f"\ncode {self.ids[0]} -> {rid}: " + ("identical" if not diff else ""))
            if diff:
                lines.append(diff.rstrip())
        lines.append("\n(* marks values that differ)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(rid)}<br><small>{escape(run.name)}</small></th>"
                       for rid, run in zip(self.ids, self.runs))
        parts = ['<div class="jupyter-tracker-compare">']
        for title, rows in self._sections():
            if not rows:
                continue
            parts.append(f"<h4>{escape(title)}</h4><table><tr><th></th>{head}</tr>")
            for key, cells, differs in rows:
                style = ' style="background:#fff3cd"' if differs else ""
                parts.append(f"<tr{style}><th style='text-align:left'>{escape(key)}</th>" + "".join(
                    f"<td style='text-align:left'>{escape(c)}</td>" for c in cells) + "</tr>")
            parts.append("</table>")
        for rid, diff in self.code_diffs():
            parts.append(f"<h4>code {escape(self.ids[0])} → {escape(rid)}</h4>")
            parts.append(f"<pre>{escape(diff) if diff else 'identical'}</pre>")
        parts.append("</div>")
        return "".join(parts)


def _rows(dicts: list[dict[str, Any]]) -> list[tuple[str, list[Any], bool]]:
    keys = list(dict.fromkeys(k for d in dicts for k in d))
    rows = []
    for key in keys:
        values = [d.get(key, MISSING) for d in dicts]
        differs = any(not same_value(values[0], v) for v in values[1:])
        rows.append((key, values, differs))
    return rows


def same_value(a: Any, b: Any) -> bool:
    """The one rule for "the same value", in compare, rerun, batch and validate (issue 10).

    Numbers are the same when they are equal (``1`` and ``1.0``; NaN and NaN), but a bool is not a
    number (``True`` is not ``1``); lists and tuples (JSON knows no tuples) compare item by item,
    dicts key by key; anything else must be equal and of the same type.

    >>> same_value(1, 1.0), same_value(float("nan"), float("nan")), same_value(True, 1)
    (True, True, False)
    >>> same_value([1, (2, "a")], (1, [2.0, "a"])), same_value({"a": 1}, {"a": 2})
    (True, False)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number):
        if _nan(a) or _nan(b):
            return _nan(a) and _nan(b)
        return a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _nan(value: Any) -> bool:
    try:
        return isinstance(value, numbers.Real) and math.isnan(value)
    except (TypeError, ValueError, OverflowError):
        return False


def _show(value: Any) -> str:
    # One line per cell: a multi-line string param would break the text table's columns.
    return MISSING if value is MISSING else " ⏎ ".join(format_value(value).splitlines())
