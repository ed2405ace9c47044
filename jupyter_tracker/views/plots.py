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
from typing import TYPE_CHECKING, Any, Iterable, Sequence

# This module is imported only when a chart is asked for (see __init__.__getattr__), so
# importing matplotlib, numpy and pandas here costs nothing at %load_ext time.
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

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
    notes, without_steps, not_drawn = [], False, np.zeros(3, dtype=int)  # NaN, +inf, -inf points
    for run, points in series:
        values = points["value"].to_numpy(dtype=float)
        not_drawn += [int(np.isnan(values).sum()), int(np.isposinf(values).sum()), int(np.isneginf(values).sum())]
        steps = points["step"]
        if steps.isna().all():
            without_steps = True
            xs = np.arange(len(points), dtype=float)
        else:
            # Points logged without a step sit at their position in the log.
            xs = steps.astype("float64").fillna(pd.Series(np.arange(len(points)), index=steps.index)).to_numpy()
        ax.plot(xs, np.where(np.isfinite(values), values, np.nan), marker="o" if len(points) <= 30 else None,
                markersize=3, label=f"{run.short_id} {_label(run.name, 30)}")
    if not_drawn.any():
        kinds = ", ".join(f"{n} {kind}" for n, kind in zip(not_drawn, ("NaN", "∞", "−∞")) if n)
        notes.append(f"{count(int(not_drawn.sum()), 'point')} not drawn ({kinds})")
    if all(len(points) <= 1 for _, points in series):
        notes.append(f"one point per run: {name} was not logged as a series (log_metric(..., step=))")
    if missing:
        notes.append(f"no {name} in {', '.join(missing)}")
    ax.set_xlabel("point (no step logged)" if without_steps else "step")
    ax.set_ylabel(name)
    ax.set_title(f"{name} by step")
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="best")
    _note(ax, notes)
    return fig


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


