"""Matplotlib charts of runs: the one plotting module of the panel, the batch report and ``plot_*``.

The functions draw the frames and series they are given (shaped like ``runs()`` and
``metric_series()``) and never read the store: ``jupyter_tracker.views`` picks the runs. Every
function returns a ``matplotlib.figure.Figure`` built without pyplot, so no figure is
left open in pyplot's global registry and nothing depends on the active backend; the figure
shows as a PNG in a notebook and saves anywhere with ``fig.savefig``. Each takes ``ax=`` to
draw into an axes of a figure of your own instead (then that figure is returned).

Missing values are skipped and said so on the chart; no runs gives a chart that says so; an
unknown metric or param is a ``UsageProblem`` that names the ones that exist.

For example, ``jupyter_tracker.plot_metric("acc", by="n_estimators", experiment="churn").savefig("acc.png")``.
"""

from __future__ import annotations

import io
import math
import numbers
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Sequence

# This module is imported only when a chart is asked for (see __init__.__getattr__), so
# importing matplotlib, numpy and pandas here costs nothing at %load_ext time.
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib import dates as mdates
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..render import count, format_value, is_missing
from ..errors import UsageProblem

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..records import Run

NOT_SET = "(not set)"
FIGSIZE = (7.0, 3.8)
MAX_RUN_TICKS = 30  # beyond this many runs, run ids on the x axis overlap into a black bar
SPREADS = ("range", "std")
LOG_SCALE_RATIO = 100  # a positive param spanning this factor or more gets a log x axis
MAX_PARALLEL_AXES = 8  # default params of plot_parallel: beyond 8 axes their names and ticks collide at FIGSIZE
MAX_AXIS_CATEGORIES = 10  # labelled values on one parallel axis; more overlap on its 0-1 height
NOT_SET_Y = -0.15  # where a run without the param crosses a parallel axis: below its 0-1 range
MAX_POINT_LABELS = 20  # plot_scatter names its points by run id up to this many (a PNG has no hover)
MAX_COLOUR_CATEGORIES = 8  # a numeric colour param with more values gets a colormap, not a legend


class TrackerFigure(Figure):
    """A Figure that shows itself as a PNG in a notebook, whether or not pyplot was ever imported."""

    def _repr_png_(self) -> bytes:
        return figure_png(self)


def figure_png(fig: Figure, dpi: float | None = None) -> bytes:
    """The figure rendered to PNG bytes (Agg), as ``fig.savefig`` would write them.

    For example::

        figure_png(plot_series(["3f2a"], "loss"))[:4]
        b'\\x89PNG'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi if dpi is not None else "figure")
    return buffer.getvalue()


# ------------------------------------------------------------------ metric
def plot_metric(frame: pd.DataFrame, metric: str, by: str | None = None, experiment: str | None = None,
                ax: "Axes | None" = None) -> Figure:
    """The final value of ``metric`` for each run of ``frame`` (shaped like ``runs()``), in its order,
    or against the param ``by``; ``jupyter_tracker.plot_metric`` documents the chart."""
    if frame.empty:
        return message_figure(f"no runs to plot{_in(experiment)}", ax)
    metric_col = _column(frame, "metrics.", metric, "metric")
    values = _numbers(frame[metric_col])
    label = _label(_bare(metric_col, "metrics."))
    notes = _value_notes(values, label)
    drawable = np.where(np.isfinite(values), values, np.nan)
    if not np.isfinite(values).any():
        return message_figure(f"no finite values of {label} to plot ({len(frame)} runs)", ax)
    fig, ax = _figure(ax)
    if by is None:
        positions = np.arange(1, len(frame) + 1)
        ax.plot(positions, drawable, "o-", label=label)
        ax.set_xlabel("run")
        if len(frame) <= MAX_RUN_TICKS:
            many = len(frame) > 4
            ax.set_xticks(positions, _run_labels(frame, " " if many else "\n"), rotation=40 if many else 0,
                          ha="right" if many else "center", rotation_mode="anchor", fontsize=8)
        else:
            ax.set_xlim(0, len(frame) + 1)
        ax.set_title(f"{label}: final value per run")
    else:
        by_col = _column(frame, "params.", by, "param")
        by_label = _label(_bare(by_col, "params."))
        raw = frame[by_col].tolist()
        if _all_numeric(raw):
            _numeric_against(ax, raw, drawable, notes, by_label)
        else:
            _categories_against(ax, raw, drawable)
        ax.set_xlabel(by_label)
        ax.set_title(f"{label} against {by_label}")
        ax.legend(fontsize=8, loc="best")
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)
    _note(ax, notes)
    return fig


def _numeric_against(ax: "Axes", raw: list[Any], values: np.ndarray, notes: list[str], by_label: str) -> None:
    present = np.array([not is_missing(x) for x in raw])
    if not present.all():
        notes.append(f"{count(int((~present).sum()), 'run')} without {by_label} not drawn")
    xs = np.array([float(x) for x, keep in zip(raw, present) if keep])
    ys = values[present]
    ax.plot(xs, ys, "o", alpha=0.6, label="runs")
    levels = np.unique(xs)
    means = np.array([_nanmean(ys[xs == level]) for level in levels])
    ax.plot(levels, means, "-", color="#444", label="mean")
    if len(xs) and xs.min() > 0 and xs.max() / xs.min() >= LOG_SCALE_RATIO:
        ax.set_xscale("log")  # learning rates, regularisation: a linear axis piles them up at 0


def _categories_against(ax: "Axes", raw: list[Any], values: np.ndarray) -> None:
    keys = [_category(x) for x in raw]
    categories = sorted(set(keys), key=lambda key: _order_key(raw[keys.index(key)]))
    position = {key: i for i, key in enumerate(categories)}
    xs = np.array([position[key] for key in keys], dtype=float)
    ax.plot(xs, values, "o", alpha=0.6, label="runs")
    means = [_nanmean(values[xs == i]) for i in range(len(categories))]
    ax.plot(range(len(categories)), means, "_", markersize=22, markeredgewidth=2, color="#444",
            linestyle="none", label="mean")
    ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 5 else 0,
                  ha="right" if len(categories) > 5 else "center", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.5, len(categories) - 0.5)


# ------------------------------------------------------------------ series
def plot_series(series: "list[tuple[Run, pd.DataFrame]]", metric: str, missing: Sequence[str] = (),
                ax: "Axes | None" = None) -> Figure:
    """One line per (run, points) of ``series`` (points: a ``metric_series`` frame); ``missing`` names the
    runs that never logged ``metric``. ``jupyter_tracker.plot_series`` documents the chart."""
    name = _label(metric[len("metrics."):] if metric.startswith("metrics.") else metric)
    fig, ax = _figure(ax)
    without_steps, not_drawn = False, np.zeros(3, dtype=int)  # NaN, +inf, -inf points
    for run, points in series:
        values = points["value"].to_numpy(dtype=float)
        not_drawn += _non_finite(values)
        xs, no_steps = _steps(points)
        without_steps |= no_steps
        ax.plot(xs, np.where(np.isfinite(values), values, np.nan), marker="o" if len(points) <= 30 else None,
                markersize=3, label=f"{run.short_id} {_label(run.name, 30)}")
    notes = _series_notes(series, name, missing, not_drawn, "not drawn")
    ax.set_xlabel("point (no step logged)" if without_steps else "step")
    ax.set_ylabel(name)
    ax.set_title(f"{name} by step")
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="best")
    _note(ax, notes)
    return fig


def plot_series_bands(series: "list[tuple[Run, pd.DataFrame]]", metric: str, by: str | Sequence[str],
                      missing: Sequence[str] = (), ax: "Axes | None" = None) -> Figure:
    """Per group of the runs of ``series`` with the same values of the params ``by``, the mean of ``metric``
    at each step and its min–max band; ``jupyter_tracker.plot_series`` documents the chart."""
    name = _label(_bare(metric, "metrics."))
    names = [_bare(p, "params.") for p in ([by] if isinstance(by, str) else by)]
    known = set().union(*(run.params for run, _ in series))
    for unknown in (n for n in names if n not in known):
        raise UsageProblem(f"unknown param '{unknown}': the runs have {', '.join(sorted(known)) or 'no params'}")
    params = pd.DataFrame({n: [run.params.get(n) for run, _ in series] for n in names}, index=range(len(series)),
                          dtype=object)
    fig, ax = _figure(ax)
    without_steps, left_out = False, np.zeros(3, dtype=int)  # NaN, +inf, -inf points
    for colour, (key, members) in enumerate(_groups(params, names)):
        per_run = []  # one Series per run: its finite value at each step (the last one logged at a step)
        for position in members.index:
            points = series[position][1]
            values = points["value"].to_numpy(dtype=float)
            left_out += _non_finite(values)
            xs, no_steps = _steps(points)
            without_steps |= no_steps
            finite = np.isfinite(values)
            per_run.append(pd.Series(values[finite], index=xs[finite]).groupby(level=0).last())
        table = pd.concat(per_run, axis=1).sort_index()  # steps x runs; NaN where a run lacks the step
        steps = table.index.to_numpy(dtype=float)
        combination = ", ".join(f"{_label(n, 24)}={_label(_category(v), 24)}" for n, v in zip(names, key))
        ax.plot(steps, table.mean(axis=1).to_numpy(), color=f"C{colour % 10}", marker="o" if len(steps) <= 30 else None,
                markersize=3, label=f"{combination or 'all runs'} (n={len(members)})")
        ax.fill_between(steps, table.min(axis=1).to_numpy(), table.max(axis=1).to_numpy(), color=f"C{colour % 10}",
                        alpha=0.2, linewidth=0)
    ax.set_xlabel("point (no step logged)" if without_steps else "step")
    ax.set_ylabel(name)
    groups = f"per {', '.join(_label(n, 24) for n in names)}" if names else "over all runs"
    ax.set_title(f"{name} by step: mean and min–max {groups}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    _note(ax, _series_notes(series, name, missing, left_out, "left out of the means and bands"))
    return fig


def _steps(points: pd.DataFrame) -> tuple[np.ndarray, bool]:
    """The x of each point of a ``metric_series`` frame, and whether none had a step: points logged
    without a step sit at their position in the log."""
    steps = points["step"]
    if steps.isna().all():
        return np.arange(len(points), dtype=float), True
    return steps.astype("float64").fillna(pd.Series(np.arange(len(points)), index=steps.index)).to_numpy(), False


def _non_finite(values: np.ndarray) -> np.ndarray:
    return np.array([np.isnan(values).sum(), np.isposinf(values).sum(), np.isneginf(values).sum()], dtype=int)


def _series_notes(series: "list[tuple[Run, pd.DataFrame]]", name: str, missing: Sequence[str],
                  non_finite: np.ndarray, fate: str) -> list[str]:
    notes = []
    if non_finite.any():
        kinds = ", ".join(f"{n} {kind}" for n, kind in zip(non_finite, ("NaN", "∞", "−∞")) if n)
        notes.append(f"{count(int(non_finite.sum()), 'point')} {fate} ({kinds})")
    if all(len(points) <= 1 for _, points in series):
        notes.append(f"one point per run: {name} was not logged as a series (log_metric(..., step=))")
    if missing:
        notes.append(f"no {name} in {', '.join(missing)}")
    return notes


# ------------------------------------------------------------------ parallel
def plot_parallel(frame: pd.DataFrame, metric: str, params: str | Sequence[str] | None = None,
                  experiment: str | None = None, ax: "Axes | None" = None) -> Figure:
    """One line per run of ``frame`` (shaped like ``runs()``) across an axis per param and ``metric`` last,
    coloured by ``metric``; ``jupyter_tracker.plot_parallel`` documents the chart."""
    if frame.empty:
        return message_figure(f"no runs to plot{_in(experiment)}", ax)
    metric_col = _column(frame, "metrics.", metric, "metric")
    label = _label(_bare(metric_col, "metrics."))
    chosen = None if params is None else [_column(frame, "params.", p, "param")
                                          for p in ([params] if isinstance(params, str) else params)]
    values = _numbers(frame[metric_col])
    finite = np.isfinite(values)
    if not finite.any():
        return message_figure(f"no finite values of {label} to plot ({count(len(frame), 'run')})", ax)
    notes = [] if finite.all() else [f"{count(int((~finite).sum()), 'run')} without a finite {label} not drawn"]
    frame, values = frame[finite], values[finite]
    columns = chosen if chosen is not None else _varying_params(frame, notes)
    names = [_label(_bare(c, "params."), 20) for c in columns] + [label]
    axes = [_unit_axis(frame[c].tolist(), log=True) for c in columns] + [_unit_axis(values.tolist(), log=False)]
    crossings = np.column_stack([positions for positions, _ in axes])  # runs x axes
    for name, (positions, _) in zip(names, axes):
        if np.isnan(positions).any():
            notes.append(f"{count(int(np.isnan(positions).sum()), 'run')} with an infinite {name}: a gap there")
    fig, ax = _figure(ax)
    xs = np.arange(len(axes), dtype=float)
    cmap, norm = colormaps["viridis"], Normalize(values.min(), values.max())
    run_ids = frame["run_id"].str[:8].tolist() if "run_id" in frame.columns else [str(i + 1) for i in range(len(frame))]
    for i in np.argsort(values, kind="stable"):  # the highest values last, drawn on top
        ax.plot(xs, crossings[i], color=cmap(norm(values[i])), alpha=0.85, linewidth=1.5, label=run_ids[i])
    ax.vlines(xs, 0, 1, color="#444", linewidth=1)
    for x, (_, ticks) in zip(xs, axes):
        for y, text in ticks:
            ax.text(x + 0.03, y, text, fontsize=7, ha="left", va="center",
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.7})
    many = len(axes) > 5
    ax.set_xticks(xs, names, rotation=30 if many else 0, ha="right" if many else "center", rotation_mode="anchor",
                  fontsize=8)
    ax.set_yticks([])
    ax.spines[["left", "right", "top"]].set_visible(False)
    ax.set_xlim(-0.2, len(axes) - 0.5)
    ax.set_ylim(NOT_SET_Y - 0.08, 1.15)  # room above the axes for the note
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=label)
    ax.set_title(f"{label} against {', '.join(names[:-1]) or 'no params'} (one line per run)"
                 if len(names) <= 4 else f"{label} against {count(len(columns), 'param')} (one line per run)")
    _note(ax, notes)
    return fig


def _varying_params(frame: pd.DataFrame, notes: list[str]) -> list[str]:
    """The params whose values differ among the runs (every param if none does), at most MAX_PARALLEL_AXES."""
    columns = [c for c in frame.columns if c.startswith("params.")]
    varying = [c for c in columns if len({_category(v) for v in frame[c]}) > 1] or columns
    if len(varying) > MAX_PARALLEL_AXES:
        notes.append(f"{MAX_PARALLEL_AXES} of {len(varying)} varying params shown (choose with params=)")
    return varying[:MAX_PARALLEL_AXES]


def _unit_axis(raw: list[Any], log: bool) -> tuple[np.ndarray, list[tuple[float, str]]]:
    """Where each value crosses a parallel axis (0 to 1, NOT_SET_Y without a value, NaN for ±∞), and
    the axis' labelled ticks: numbers scaled min–max (log10 if ``log`` and they span LOG_SCALE_RATIO),
    other values evenly spaced in their order."""
    present = np.array([not is_missing(v) for v in raw], dtype=bool)
    unset = [] if present.all() else [(NOT_SET_Y, NOT_SET)]
    if _all_numeric(raw):
        numbers = np.array([float(v) if keep else np.nan for v, keep in zip(raw, present)])
        finite = numbers[np.isfinite(numbers)]
        if not len(finite):
            return np.where(present, np.nan, NOT_SET_Y), unset
        lo, hi = float(finite.min()), float(finite.max())
        log = log and lo > 0 and hi / lo >= LOG_SCALE_RATIO

        def unit(v: Any) -> Any:
            low, high, v = (np.log10(lo), np.log10(hi), np.log10(v)) if log else (lo, hi, v)
            return (v - low) / (high - low) if high > low else np.full_like(v, 0.5, dtype=float)

        finite_at = np.isfinite(numbers)  # ±∞ cross at NaN: a gap on this axis
        positions = np.where(finite_at, unit(np.where(finite_at, numbers, lo)), np.nan)
        ticks = [(float(unit(np.float64(t))), format_value(float(t), 10)) for t in _round_ticks(lo, hi, log)]
        return np.where(present, positions, NOT_SET_Y), ticks + unset
    categories = _categories(raw)
    spot = {key: i / (len(categories) - 1) if len(categories) > 1 else 0.5 for i, key in enumerate(categories)}
    positions = np.array([spot[_category(v)] if keep else NOT_SET_Y for v, keep in zip(raw, present)])
    step = math.ceil(len(categories) / MAX_AXIS_CATEGORIES)  # label every step-th: more would overlap
    return positions, [(spot[key], _label(key, 20)) for key in categories[::step]] + unset


def _round_ticks(lo: float, hi: float, log: bool) -> list[float]:
    """3 to 5 round values from lo to hi (powers of ten on a log axis), with lo and hi added when fewer."""
    if lo == hi:
        return [lo]
    if log:
        powers = 10.0 ** np.arange(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)
        ticks = list(powers[::math.ceil(len(powers) / 5)]) if len(powers) else []
        span, where = math.log10(hi / lo), lambda t: math.log10(t / lo)
    else:
        slack = (hi - lo) * 1e-9  # 0.30000000000000004 is 0.3
        ticks = [t for t in MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
                 if lo - slack <= t <= hi + slack]
        span, where = hi - lo, lambda t: t - lo
    for end in (lo, hi):
        if len(ticks) < 3 and all(abs(where(end) - where(t)) > 0.15 * span for t in ticks):
            ticks.append(end)
    return sorted(ticks)


# ------------------------------------------------------------------ scatter
class _ScatterAxis(NamedTuple):
    values: np.ndarray  # NaN where a run is not drawn: no value, or ±∞
    label: str
    categories: list[str] | None = None  # tick labels at 0, 1, ... for a column that is not numeric
    scale: str = "linear"  # "log" for a param spanning LOG_SCALE_RATIO or more, "date" for start


def plot_scatter(frame: pd.DataFrame, x: str, y: str, color: str | None = None, experiment: str | None = None,
                 ax: "Axes | None" = None) -> Figure:
    """One point per run of ``frame`` (shaped like ``runs()``): column ``x`` against column ``y``, coloured
    by the param ``color``; ``jupyter_tracker.plot_scatter`` documents the chart."""
    if frame.empty:
        return message_figure(f"no runs to plot{_in(experiment)}", ax)
    x_axis, y_axis = _scatter_axis(frame, _any_column(frame, x)), _scatter_axis(frame, _any_column(frame, y))
    color_col = None if color is None else _column(frame, "params.", color, "param")
    keep = np.isfinite(x_axis.values) & np.isfinite(y_axis.values)
    if not keep.any():
        return message_figure(f"no run has both {x_axis.label} and {y_axis.label} ({count(len(frame), 'run')})", ax)
    fig, ax = _figure(ax)
    xs, ys = x_axis.values[keep], y_axis.values[keep]
    if color_col is None:
        ax.plot(xs, ys, "o", alpha=0.8, label="runs")
    else:
        _coloured_points(ax, xs, ys, frame[color_col][keep].tolist(), _label(_bare(color_col, "params."), 24))
    _place(ax, "x", x_axis)
    _place(ax, "y", y_axis)
    if keep.sum() <= MAX_POINT_LABELS and "run_id" in frame.columns:  # no hover in a PNG: name the points
        for run_id, px, py in zip(frame["run_id"][keep], xs, ys):
            ax.annotate(str(run_id)[:8], (px, py), xytext=(3, 3), textcoords="offset points", fontsize=7,
                        color="#555")
    ax.set_xlabel(x_axis.label)
    ax.set_ylabel(y_axis.label)
    by = "" if color_col is None else f" by {_label(_bare(color_col, 'params.'), 24)}"
    ax.set_title(f"{y_axis.label} against {x_axis.label}{by}")
    ax.grid(True, alpha=0.3)
    _note(ax, _dropped_note(keep, x_axis, y_axis))
    return fig


def _place(ax: "Axes", which: str, axis: _ScatterAxis) -> None:
    """Category ticks, dates or a log scale on the x or y axis of ``ax``."""
    if axis.categories is not None:
        slanted = {"rotation": 30, "ha": "right", "rotation_mode": "anchor"}  # long x labels would overlap
        getattr(ax, f"set_{which}ticks")(range(len(axis.categories)), axis.categories, fontsize=8,
                                         **(slanted if which == "x" and len(axis.categories) > 5 else {}))
        getattr(ax, f"set_{which}lim")(-0.5, len(axis.categories) - 0.5)
    elif axis.scale == "date":
        getattr(ax, f"{which}axis").axis_date()
    elif axis.scale == "log":
        getattr(ax, f"set_{which}scale")("log")


def _any_column(frame: pd.DataFrame, name: str) -> str:
    """The column a scatter axis shows: ``duration``, ``start``, a prefixed column, or a bare name, which is
    a metric if one has that name, else a param."""
    if name in ("duration", "start") or name.startswith(("metrics.", "params.", "tags.")):
        if name in frame.columns:
            return name
    else:
        for prefix in ("metrics.", "params."):
            if prefix + name in frame.columns:
                return prefix + name
    have = {prefix: ", ".join(sorted(_bare(c, prefix) for c in frame.columns if c.startswith(prefix))) or "none"
            for prefix in ("metrics.", "params.")}
    raise UsageProblem(f"unknown column '{name}': the runs have metrics {have['metrics.']}, "
                       f"params {have['params.']}, duration and start")


def _scatter_axis(frame: pd.DataFrame, column: str) -> _ScatterAxis:
    raw = frame[column]
    if column == "start":
        stamps = pd.to_datetime(raw, errors="coerce", utc=True).dt.tz_localize(None)
        return _ScatterAxis(mdates.date2num(stamps.to_numpy()), "start (UTC)", scale="date")
    label = "duration (s)" if column == "duration" else _label(column.split(".", 1)[1])
    values = raw.tolist()
    if column == "duration" or column.startswith("metrics.") or _all_numeric(values):
        numbers = _numbers(raw)
        finite = numbers[np.isfinite(numbers)]
        log = (column.startswith("params.") and len(finite) > 0 and finite.min() > 0
               and finite.max() / finite.min() >= LOG_SCALE_RATIO)
        return _ScatterAxis(np.where(np.isfinite(numbers), numbers, np.nan), label, scale="log" if log else "linear")
    categories = _categories(values)
    position = {key: float(i) for i, key in enumerate(categories)}
    spots = np.array([np.nan if is_missing(v) else position[_category(v)] for v in values], dtype=float)
    return _ScatterAxis(spots, label, [_label(key, 24) for key in categories])


def _coloured_points(ax: "Axes", xs: np.ndarray, ys: np.ndarray, raw: list[Any], label: str) -> None:
    """Points coloured by a param: a colormap and colorbar for a number of many values, else a colour
    and legend entry per value; runs without the param in grey."""
    present = np.array([not is_missing(v) for v in raw], dtype=bool)
    if _all_numeric(raw) and len({float(v) for v, keep in zip(raw, present) if keep}) > MAX_COLOUR_CATEGORIES:
        shades = np.array([float(v) if keep else np.nan for v, keep in zip(raw, present)])
        has = np.isfinite(shades)
        lo, hi = shades[has].min(), shades[has].max()
        norm = LogNorm(lo, hi) if lo > 0 and hi / lo >= LOG_SCALE_RATIO else Normalize(lo, hi)
        points = ax.scatter(xs[has], ys[has], c=shades[has], cmap="viridis", norm=norm, alpha=0.85)
        ax.figure.colorbar(points, ax=ax, label=label)
        if not has.all():
            ax.plot(xs[~has], ys[~has], "o", color="#bbb", label=NOT_SET)
            ax.legend(fontsize=8, loc="best")
        return
    keys = np.array([_category(v) for v in raw], dtype=object)
    for i, key in enumerate(_categories(raw) + ([] if present.all() else [NOT_SET])):
        ax.plot(xs[keys == key], ys[keys == key], "o", alpha=0.85, color="#bbb" if key == NOT_SET else f"C{i % 10}",
                label=_label(key, 24))
    ax.legend(title=label, fontsize=8, title_fontsize=8, loc="best")


def _dropped_note(keep: np.ndarray, *axes: _ScatterAxis) -> list[str]:
    if keep.all():
        return []
    reasons = []
    for axis in axes:
        lost = int(np.isnan(axis.values).sum())
        if lost:
            reasons.append(f"{lost} without a finite {axis.label}" if axis.categories is None
                           else f"{lost} without {axis.label}")
    return [f"{count(int((~keep).sum()), 'run')} not drawn ({', '.join(reasons)})"]


# ------------------------------------------------------------------ spread
def spread_summary(frame: pd.DataFrame, metric: str, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and spread of ``metric`` per combination of the params ``by`` over the runs of ``frame``;
    ``jupyter_tracker.views.spread_summary`` documents the columns."""
    columns = _group_columns(frame, by)
    if frame.empty:
        return pd.DataFrame(columns=[*columns, "runs", "n", "mean", "std", "min", "max"])
    metric_col = _column(frame, "metrics.", metric, "metric")
    rows = []
    for key, members in _groups(frame, columns):
        values = _numbers(members[metric_col])
        finite = values[np.isfinite(values)]
        rows.append({
            **dict(zip(columns, key)), "runs": len(members), "n": len(finite),
            "mean": float(finite.mean()) if len(finite) else math.nan,
            "std": float(finite.std(ddof=1)) if len(finite) > 1 else (0.0 if len(finite) else math.nan),
            "min": float(finite.min()) if len(finite) else math.nan,
            "max": float(finite.max()) if len(finite) else math.nan,
        })
    return pd.DataFrame(rows, columns=[*columns, "runs", "n", "mean", "std", "min", "max"])


def plot_spread(frame: pd.DataFrame, metric: str, by: str | Sequence[str] | None = None, spread: str = "range",
                experiment: str | None = None, ax: "Axes | None" = None) -> Figure:
    """Spread of ``metric`` over the repeats in ``frame``; ``jupyter_tracker.plot_spread`` documents the chart."""
    if spread not in SPREADS:
        raise UsageProblem(f"unknown spread '{spread}': use one of {', '.join(SPREADS)}")
    if frame.empty:
        return message_figure(f"no runs to plot{_in(experiment)}", ax)
    metric_col = _column(frame, "metrics.", metric, "metric")
    label = _label(_bare(metric_col, "metrics."))
    summary = spread_summary(frame, metric_col, by)
    columns = [c for c in summary.columns if c not in ("runs", "n", "mean", "std", "min", "max")]
    if not summary["n"].any():
        return message_figure(f"no finite values of {label} to plot ({len(frame)} runs)", ax)
    fig, ax = _figure(ax)
    positions = np.arange(len(summary), dtype=float)
    means = summary["mean"].to_numpy()
    if spread == "range":
        errors = np.vstack([means - summary["min"].to_numpy(), summary["max"].to_numpy() - means])
        bar_label = "mean, min–max"
    else:
        errors = summary["std"].to_numpy()
        bar_label = "mean ± std"
    dots_x, dots_y = [], []
    for position, (_, members) in zip(positions, _groups(frame, columns)):
        values = _numbers(members[metric_col])
        finite = values[np.isfinite(values)]
        dots_x.extend([position] * len(finite))
        dots_y.extend(finite)
    ax.plot(dots_x, dots_y, "o", color="#999", alpha=0.6, markersize=4, label="runs")
    ax.errorbar(positions, means, yerr=np.nan_to_num(errors), fmt="s", color="#1565c0", capsize=5,
                markersize=6, label=bar_label)
    names = [_label(_bare(c, "params."), 24) for c in columns]
    ticks = []
    for row in summary.to_dict("records"):
        combination = "\n".join(f"{n}={_category(row[c])}" for n, c in zip(names, columns)) or "all runs"
        ticks.append(f"{combination}\n(n={int(row['n'])})")
    many = len(ticks) > 6
    ax.set_xticks(positions, ticks, rotation=40 if many else 0, ha="right" if many else "center",
                  rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.5, len(ticks) - 0.5)
    ax.set_xlabel(", ".join(names) if names else "runs")
    ax.set_ylabel(label)
    ax.set_title(f"{label} over repeats ({bar_label})")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    without = int((summary["runs"] - summary["n"]).sum())
    _note(ax, [f"{count(without, 'run')} without a finite {label}"] if without else [])
    return fig


def _group_columns(frame: pd.DataFrame, by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return [c for c in frame.columns if c.startswith("params.")]
    names = [by] if isinstance(by, str) else list(by)
    if frame.empty:  # nothing to check the names against
        return [name if name.startswith("params.") else f"params.{name}" for name in names]
    return [_column(frame, "params.", name, "param") for name in names]


def _groups(frame: pd.DataFrame, columns: list[str]) -> Iterable[tuple[tuple[Any, ...], pd.DataFrame]]:
    """Rows grouped by the values of ``columns`` (lists and dicts included), in the order of those values."""
    if not columns:
        yield (), frame
        return
    rows = list(zip(*(frame[c].tolist() for c in columns)))
    keys = [tuple(_category(v) for v in row) for row in rows]
    first: dict[tuple[str, ...], tuple[Any, ...]] = {}
    for key, row in zip(keys, rows):
        first.setdefault(key, row)
    for key in sorted(first, key=lambda k: tuple(_order_key(v) for v in first[k])):
        yield first[key], frame[[k == key for k in keys]]


# ----------------------------------------------------------------- helpers
def _column(frame: pd.DataFrame, prefix: str, name: str, what: str) -> str:
    """The column for a metric or param name, given with or without its prefix."""
    for candidate in (name if name.startswith(prefix) else prefix + name, name):
        if candidate in frame.columns:
            return candidate
    known = sorted(_bare(c, prefix) for c in frame.columns if c.startswith(prefix))
    have = ", ".join(known) if known else f"no {what}s"
    raise UsageProblem(f"unknown {what} '{_bare(name, prefix)}': the runs have {have}")


def _bare(column: str, prefix: str) -> str:
    return column[len(prefix):] if column.startswith(prefix) else column


def _numbers(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _value_notes(values: np.ndarray, label: str) -> list[str]:
    notes = []
    missing = int(np.isnan(values).sum())
    if missing:
        notes.append(f"{count(missing, 'run')} without a value of {label}")
    infinite = int(np.isinf(values).sum())
    if infinite:
        notes.append(f"{count(infinite, 'infinite value')} not drawn")
    return notes



def _all_numeric(values: list[Any]) -> bool:
    present = [v for v in values if not is_missing(v)]
    return bool(present) and all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in present)


def _categories(raw: list[Any]) -> list[str]:
    """The distinct values of ``raw`` as a chart writes them, in ``_order_key`` order, missing ones left out."""
    first: dict[str, Any] = {}
    for value in raw:
        if not is_missing(value):
            first.setdefault(_category(value), value)
    return sorted(first, key=lambda key: _order_key(first[key]))


def _category(value: Any) -> str:
    return NOT_SET if is_missing(value) else format_value(value, width=30)


def _order_key(value: Any) -> tuple[int, float, str]:
    """Numbers first in numeric order, then everything else by its text, unset last."""
    if is_missing(value):
        return (2, 0.0, "")
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return (0, float(value), "")
    return (1, 0.0, format_value(value, width=200))


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


def _run_labels(frame: pd.DataFrame, separator: str) -> list[str]:
    if "run_id" not in frame.columns:
        return [str(i + 1) for i in range(len(frame))]
    names = frame["name"] if "name" in frame.columns else [""] * len(frame)
    return [f"{run_id[:8]}{separator}{_label(name, 24)}" if name else run_id[:8]
            for run_id, name in zip(frame["run_id"], names)]


def _label(text: str, width: int = 40) -> str:
    """A name as a chart shows it: at most ``width`` characters (legends and axes of names of 100 KB stay
    readable, issue 13), and a ``$`` as a dollar, not the start of matplotlib's math text."""
    return format_value(str(text), width).replace("$", r"\$")


def _figure(ax: "Axes | None") -> tuple[Figure, "Axes"]:
    if ax is not None:
        return ax.figure, ax
    fig = TrackerFigure(figsize=FIGSIZE, layout="constrained")
    return fig, fig.add_subplot()


def message_figure(message: str, ax: "Axes | None") -> Figure:
    """A chart that says why there is nothing to draw, instead of an empty frame or an error."""
    fig, ax = _figure(ax)
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555")
    return fig


def _note(ax: "Axes", notes: list[str]) -> None:
    if notes:
        ax.text(0.01, 0.98, "; ".join(notes), transform=ax.transAxes, ha="left", va="top", fontsize=8,
                color="#a15c00")


def _in(experiment: str | None) -> str:
    return "" if experiment is None else f" in experiment '{experiment}'"


