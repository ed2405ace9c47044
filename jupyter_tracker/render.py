"""How runs and cell summaries look: HTML in a notebook, aligned text in a terminal.

Every value that came from a run is escaped before it reaches HTML: a parameter holding
``<img src=x onerror=...>`` shows as text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
import os
import re
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the records call these renderings; render only reads them
    from .records import DataRef, MetricPoint, Run

STATUS_COLOURS = {"finished": "#2e7d32", "failed": "#c62828", "interrupted": "#ef6c00", "running": "#1565c0"}


def format_number(value: float, digits: int = 6, signed: bool = False) -> str:
    """A float for a person: ``digits`` significant digits, and NaN, ∞ and −∞ named as everywhere else
    (the sidebar, the panel, the charts: issue 13).

    >>> format_number(0.123456789), format_number(float("-inf")), format_number(float("inf"), signed=True)
    ('0.123457', '−∞', '+∞')
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return ("+∞" if signed else "∞") if value > 0 else "−∞"
    return f"{value:+.{digits}g}" if signed else f"{value:.{digits}g}"


def format_value(value: Any, width: int = 60) -> str:
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()  # numpy scalars (a runs() column of nullable ints holds them): 200, not np.int64(200)
    if isinstance(value, float):
        text = format_number(value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------- safe output
# Values a terminal would act on (issue 13): C0 and C1 control characters but tab and newline (ESC starts
# the sequences that clear the screen, retitle the window, recolour), DEL, and the bidirectional
# overrides and isolates that reverse the visible text (U+202E). Shown as \x1b, \u202e.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Cells a spreadsheet would run as a formula: the usual neutralisation is a leading apostrophe.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def terminal_safe(text: str) -> str:
    r"""``text`` with what a terminal would act on shown as escapes; tabs and newlines kept.

    >>> terminal_safe("run\x1b[2J \u202eevil")
    'run\\x1b[2J \\u202eevil'
    """
    return _TERMINAL_UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) <= 0xFF else f"\\u{ord(m[0]):04x}",
                                text)


def formula_safe(value: Any) -> Any:
    r"""A text cell that a spreadsheet would run as a formula, with a leading ``'``; anything else as it is.

    >>> formula_safe("=HYPERLINK(\"http://x\")"), formula_safe("-1"), formula_safe(-1), formula_safe("rf")
    ('\'=HYPERLINK("http://x")', "'-1", -1, 'rf')
    """
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_LEADS) else value


def csv_text(frame: Any, formulas: bool = False, index: bool = False) -> str:
    """A DataFrame as CSV. Unless ``formulas``, text cells, headers and index labels starting with
    = + - @ (or a tab or CR) get a leading ``'``, so that a spreadsheet shows them as text (formula
    injection); numbers are never changed."""
    if not formulas:
        from pandas.api.types import is_object_dtype, is_string_dtype  # the frame's own library, loaded

        frame = frame.copy()
        frame.columns = [formula_safe(c) for c in frame.columns]
        for column in frame.columns:
            if is_object_dtype(frame[column]) or is_string_dtype(frame[column]):
                frame[column] = frame[column].map(formula_safe)
        if index:
            frame.index = frame.index.map(
                lambda label: tuple(map(formula_safe, label)) if isinstance(label, tuple) else formula_safe(label))
    return frame.to_csv(index=index)


def json_text(value: Any) -> str:
    """Strict JSON (no bare NaN or Infinity): the non-finite numbers are the strings "NaN", "Infinity" and
    "-Infinity" (see ``json_safe``)."""
    return json.dumps(json_safe(value), indent=1, ensure_ascii=False, allow_nan=False)


def frame_json(frame: Any) -> str:
    """A DataFrame as strict JSON, one object per row, timestamps in ISO 8601. A table's empty cell (NaN:
    the run has no such metric, param or tag) is null."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return json_text(rows)


def json_safe(value: Any) -> Any:
    """A value strict JSON can hold: NaN and the infinities are the strings "NaN", "Infinity" and
    "-Infinity" (a NaN metric is a value, not a missing one: issue 13), timestamps ISO 8601, paths strings,
    numpy scalars Python numbers, pandas' missing values None.

    >>> json_safe({"loss": float("nan"), "up": float("inf"), "down": -float("inf"), "acc": 0.5})
    {'loss': 'NaN', 'up': 'Infinity', 'down': '-Infinity', 'acc': 0.5}
    """
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "isoformat"):  # datetime, pandas Timestamp (NaT has no valid isoformat)
        try:
            return value.isoformat()
        except ValueError:
            return None
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy scalars
        return json_safe(value.item())
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return str(value)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def format_time(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_delta(value: float, before: float | None) -> str:
    if before is None or math.isnan(before) or math.isnan(value):
        return "new" if before is None else ""
    return "=" if value == before else format_number(value - before, 4, signed=True)


def describe_ref(ref: DataRef) -> str:
    fp = ref.fingerprint
    if fp is None:
        return f"{ref.name}: {ref.note or 'not fingerprinted'}"
    shape = "x".join(str(n) for n in fp.shape)
    via = "" if ref.source == "variable" else f" via {ref.source}"
    where = f" in {ref.location}" if ref.location else ""
    return f"{ref.name} {fp.kind} {shape} {fp.hash[:12]}{via}{where}"


def changed_inputs(run: Run, previous: Run | None) -> dict[str, list[str]]:
    """Inputs whose fingerprint differs from the previous run's input of the same name -> changed columns."""
    if previous is None:
        return {}
    before = {r.name: r.fingerprint for r in previous.inputs if r.fingerprint is not None}
    changed = {}
    for ref in run.inputs:
        old = before.get(ref.name)
        if ref.fingerprint is not None and old is not None and old.hash != ref.fingerprint.hash:
            changed[ref.name] = ref.fingerprint.changed_columns(old)
    return changed


# ---------------------------------------------------------------------- runs
def run_sections(run: Run) -> list[tuple[str, list[tuple[str, str]]]]:
    """The rows shown for a run, grouped: shared by the text and the HTML rendering."""
    overview = [
        ("run", run.run_id), ("experiment", run.experiment), ("name", run.name), ("status", run.status),
        ("start", format_time(run.start)), ("duration", format_duration(run.duration)), ("source", run.source),
    ]
    notebook = run.environment.get("notebook")
    if notebook:
        overview.append(("notebook", notebook))
    if run.hidden_state is not None:
        overview.append(("hidden state", hidden_state_text(run.hidden_state)))
    if run.rerun_of:
        overview.append(("rerun of", run.rerun_of))
    sections = [("run", overview)]
    sections.append(("params", [(k, format_value(v)) for k, v in run.params.items()]))
    sections.append(("seeds", [(s.source, format_value(s.value) + (f" (set in {s.location})" if s.location else ""))
                               for s in run.seeds]))
    sections.append(("metrics", [
        (k, format_value(v) + (f"  ({run.metric_steps[k]} points)" if run.metric_steps.get(k, 1) > 1 else ""))
        for k, v in run.metrics.items()
    ]))
    sections.append(("inputs", [(r.name, describe_ref(r)) for r in run.inputs]))
    sections.append(("outputs", [(r.name, describe_ref(r)) for r in run.outputs]))
    sections.append(("tags", [(k, v) for k, v in run.tags.items()]))
    sections.append(("artifacts", [
        (a.name, f"{a.kind} {a.format} {format_size(a.size)} {a.hash[:12]} ({a.origin})") for a in run.artifacts
    ]))
    env = run.environment
    git = env.get("git") or {}
    environment = [(k, str(env[k])) for k in ("python", "os", "host", "cwd") if env.get(k)]
    if git.get("commit"):
        environment.append(("git", f"{git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}"))
    packages = env.get("packages") or {}
    if packages:
        environment.append(("packages", ", ".join(f"{k} {v}" for k, v in packages.items())))
    sections.append(("environment", environment))
    sections.append(("code", [("cell", run.code), ("history", f"{len(run.history)} cells executed in this kernel")]))
    if run.warnings:
        sections.append(("warnings", [(str(i + 1), w) for i, w in enumerate(run.warnings)]))
    if run.error:
        sections.append(("error", [("traceback", run.error)]))
    return [(title, rows) for title, rows in sections if rows]


def run_text(run: Run) -> str:
    lines = []
    for title, rows in run_sections(run):
        lines.append(f"{title}:")
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            value_lines = str(value).splitlines() or [""]
            lines.append(f"  {key.ljust(width)}  {value_lines[0]}")
            lines.extend(f"  {' ' * width}  {extra}" for extra in value_lines[1:])
    return "\n".join(lines)


def run_html(run: Run) -> str:
    parts = ['<div class="jupyter-tracker-run">']
    for title, rows in run_sections(run):
        parts.append(f"<details{' open' if title in ('run', 'params', 'metrics', 'seeds', 'inputs') else ''}>"
                     f"<summary><b>{escape(title)}</b></summary><table>")
        for key, value in rows:
            cell = f"<pre>{escape(value)}</pre>" if "\n" in value else escape(value)
            parts.append(f"<tr><th style='text-align:left'>{escape(key)}</th><td style='text-align:left'>{cell}</td></tr>")
        parts.append("</table></details>")
    parts.append("</div>")
    return "".join(parts)


def hidden_state_text(state: dict[str, Any]) -> str:
    """'clean' or the reasons the run's state depends on hidden history."""
    if state.get("clean"):
        how = "top-to-bottom run of the notebook" if state.get("checked_against_notebook") else "no cell re-run"
        return f"clean ({how})"
    return "HIDDEN: " + "; ".join(state.get("reasons", []))


def count(number: int, noun: str) -> str:
    """``count(1, "run")`` is ``'1 run'``, ``count(3, "run")`` is ``'3 runs'``.

    >>> count(1, "run"), count(3, "run")
    ('1 run', '3 runs')
    """
    return f"{number} {noun}{'s' if number != 1 else ''}"


def one_line(text: object, limit: int = 200) -> str:
    """The first non-blank line of a message or exception, at most ``limit`` characters.

    >>> one_line(ValueError("bad input\\n  more detail"))
    'bad input'
    """
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    if not lines:
        return type(text).__name__ if isinstance(text, BaseException) else ""
    return lines[0][:limit]


def last_line(text: str | None, limit: int = 200) -> str | None:
    """The last non-blank line (of a traceback: the exception itself), or None for no text.

    >>> last_line("Traceback (most recent call last):\\n  ...\\nKeyError: 'k'")
    "KeyError: 'k'"
    """
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:limit] if lines else None


def is_missing(value: object) -> bool:
    """None, NaN, pandas' NA and NaT: a value a run does not have.

    >>> [is_missing(v) for v in (None, float("nan"), 0, "")]
    [True, True, False, False]
    """
    if value is None or (isinstance(value, float) and value != value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


# ------------------------------------------------------------ cell summary
class SummaryLine:
    """One line under a tracked cell: ``[jupyter_tracker] <id> <name> | part | part ...`` as text, and
    the same parts as HTML, the status coloured. Subclasses say what the parts are."""

    run_id: str
    name: str
    status: str
    html_class = "jupyter-tracker-summary"

    def _parts(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def text(self) -> str:
        head = f"[jupyter_tracker] {self.run_id[:8]} {self.name}"
        return " | ".join([head] + [text for _, text in self._parts()])

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self._repr_html_()}

    def _repr_html_(self) -> str:
        colour = STATUS_COLOURS.get(self.status, "#555")
        items = []
        for kind, text in self._parts():
            style = f"color:{colour};font-weight:bold" if kind == "status" else (
                "color:#c62828" if kind in ("warnings", "hidden") else "")
            items.append(f'<span class="jt-{kind}" style="{style}">{escape(text)}</span>')
        return (
            f'<div class="{self.html_class}" style="font-family:monospace;font-size:12px;'
            'border-left:3px solid ' + colour + ';padding:2px 8px">'
            f"<b>{escape(self.run_id[:8])}</b> {escape(self.name)} · " + " · ".join(items) + "</div>"
        )


class CellSummary(SummaryLine):
    """The one compact summary shown after a tracked cell."""

    def __init__(self, run: Run, previous: Run | None) -> None:
        self.run = run
        self.run_id, self.name, self.status = run.run_id, run.name, run.status
        self.previous = previous
        self.changed = changed_inputs(run, previous)
        self._made: list[tuple[str, str]] | None = None

    def _parts(self) -> list[tuple[str, str]]:
        if self._made is None:  # the text and the HTML of the summary share them
            self._made = self._make_parts()
        return self._made

    def _make_parts(self) -> list[tuple[str, str]]:
        run = self.run
        parts = [("status", run.status), ("params", count(len(run.params), "param"))]
        if run.seeds:
            shown = ", ".join(f"{s.source}={format_value(s.value, 20)}" for s in run.seeds)
            parts.append(("seeds", f"{count(len(run.seeds), 'seed')} ({shown})"))
        if run.inputs:
            names = []
            for ref in run.inputs:
                if ref.name in self.changed:
                    columns = self.changed[ref.name]
                    names.append(f"{ref.name} CHANGED" + (f" ({', '.join(columns[:5])})" if columns else ""))
                else:
                    names.append(ref.name)
            parts.append(("inputs", f"{count(len(run.inputs), 'input')}: {', '.join(names)}"))
        if run.outputs:
            parts.append(("outputs", f"{count(len(run.outputs), 'output')}: {', '.join(r.name for r in run.outputs)}"))
        if run.metrics:
            before = self.previous.metrics if self.previous else {}
            metrics = []
            for key, value in run.metrics.items():
                delta = format_delta(value, before.get(key)) if self.previous else ""
                metrics.append(f"{key}={format_value(value)}" + (f" ({delta})" if delta else ""))
            parts.append(("metrics", " ".join(metrics)))
        parts.append(("duration", format_duration(run.duration)))
        if run.hidden_state is not None and not run.hidden_state.get("clean", True):
            parts.append(("hidden", "HIDDEN STATE: " + "; ".join(run.hidden_state.get("reasons", []))))
        if run.warnings:
            parts.append(("warnings", f"{count(len(run.warnings), 'warning')}: {'; '.join(run.warnings)}"))
        return parts


class LiveSummary(SummaryLine):
    """The summary line of a tracked cell while it runs (issue 12): elapsed time, and the latest value and
    step of each metric logged so far. The notebook shows it in the place the final summary then takes."""

    SHOWN_METRICS = 8
    status = "running"
    html_class = "jupyter-tracker-summary jupyter-tracker-live"

    def __init__(self, run_id: str, name: str, elapsed: float, latest: dict[str, MetricPoint]) -> None:
        self.run_id = run_id
        self.name = one_line(name, 60)
        self.elapsed = elapsed
        self.latest = latest

    def _parts(self) -> list[tuple[str, str]]:
        parts = [("status", "running"), ("duration", format_duration(self.elapsed))]
        if self.latest:
            shown = list(self.latest.values())[-self.SHOWN_METRICS:]  # the most recently added names
            metrics = [f"{one_line(p.name, 40)}={format_value(p.value)}" + (f" @{p.step}" if p.step is not None else "")
                       for p in shown]
            if len(self.latest) > len(shown):
                metrics.append(f"+{len(self.latest) - len(shown)} more")
            parts.append(("metrics", " ".join(metrics)))
        return parts


# ---------------------------------------------------------------- runs table
def table_cell(value: Any, width: int = 40) -> str:
    """One cell of a runs table as text: missing values (None, NaN, NaT) are blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if type(value).__name__ in ("NAType", "NaTType"):
        return ""
    if hasattr(value, "strftime"):  # the start column: pandas Timestamp in UTC
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return " ".join(format_value(value, width).split("\n"))


def _hover(value: Any, width: int) -> str:
    """A ``title`` attribute with the value in full (up to 2,000 characters) where the cell shows it cut."""
    if not isinstance(value, str) or len(value) <= width:
        return ""
    return f" title='{escape(format_value(value, 2000), quote=True)}'"


def runs_table_html(frame: Any, selected: Any = (), first_row: int = 1) -> str:
    """A runs() DataFrame (or a page of it) as an HTML table: escaped, selected runs highlighted.

    For example::

        runs_table_html(runs().tail(25), selected={"3f2a9c..."}, first_row=76)
    """
    selected = set(selected)
    columns = [c for c in frame.columns if c != "run_id"]
    head = "".join(f"<th style='text-align:left;padding:2px 6px'{_hover(str(c), 40)}>{escape(format_value(str(c), 40))}</th>"
                   for c in ["#", "run", *columns])
    rows = []
    for number, (_, row) in enumerate(frame.iterrows(), start=first_row):
        run_id = str(row.get("run_id", ""))
        chosen = run_id in selected
        cells = [f"<td style='padding:2px 6px;color:#777;white-space:nowrap'>{'✓ ' if chosen else ''}{number}</td>",
                 f"<td style='padding:2px 6px;font-family:monospace' title='{escape(run_id)}'>{escape(run_id[:8])}</td>"]
        for column in columns:
            value = row[column]
            if column == "duration":
                text = "" if value is None or value != value else format_duration(value)
            else:
                text = table_cell(value)
            style = "padding:2px 6px;white-space:nowrap"
            if column == "status":
                style += f";color:{STATUS_COLOURS.get(text, '#555')}"
            elif isinstance(value, numbers.Real) and not isinstance(value, bool):
                style += ";text-align:right"
            cells.append(f"<td style='{style}'{_hover(value, 40)}>{escape(text)}</td>")
        background = "background:#e3f2fd;" if chosen else ""
        rows.append(f"<tr class='jt-run{' jt-selected' if chosen else ''}' style='{background}'>{''.join(cells)}</tr>")
    if not rows:
        rows.append(f"<tr><td colspan='{len(columns) + 2}' style='padding:6px;color:#777'>no runs</td></tr>")
    return (
        "<table class='jupyter-tracker-runs' style='border-collapse:collapse;font-size:12px'>"
        f"<thead><tr style='border-bottom:1px solid #999'>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
