"""``jupyter-tracker`` (also ``jupyter tracker``): the command line over the Python API.

Every TrackerError becomes one line on stderr and the error's exit code, and so does an OSError on
a path the user gave; no tracebacks, whatever the input (issue 10).
"""

from __future__ import annotations

import json
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click

from . import api, repro
from .config import resolve_settings
from .repro.batch import parse_grid, parse_value
from .render import csv_text, frame_json, json_text, terminal_safe
from .errors import TrackerError, UsageProblem

FORMATS = click.Choice(["table", "csv", "json"])
CSV_FORMULAS = click.option(
    "--csv-formulas", is_flag=True,
    help="CSV: keep text cells starting with = + - @ as they are (by default they get a leading ' so that "
         "a spreadsheet shows them as text instead of running them).")
# Bounds of what one command starts: beyond them a typo (a repeat of 10**20) would build executions
# until memory runs out, or start thousands of kernels at once, instead of saying so.
MAX_EXECUTIONS = 100_000
MAX_WORKERS = 1024
MAX_ROWS = 2 ** 63 - 1  # SQLite's largest integer: a --last beyond it means every run


class TrackerGroup(click.Group):
    """Translates errors in one place: one stderr line and an exit code, never a traceback.

    A TrackerError exits with its own code; an OSError (a file or folder the user named that cannot be
    read or written, found only once the command runs) names the path and exits 2, as a bad input.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as error:
            _fail(ctx, str(error), error.exit_code)
        except OSError as error:
            _fail(ctx, _os_error_text(error), UsageProblem.exit_code)


def _say(text: str, err: bool = False) -> None:
    """Text for a person at a terminal: control characters and bidirectional overrides in values (a run
    named to clear the screen, or to read backwards) are shown as escapes (issue 13)."""
    click.echo(terminal_safe(text), err=err)


def _data(text: str, newline: bool = True) -> None:
    """JSON or CSV for a program: every value exactly as recorded."""
    click.echo(text, nl=newline)


def _fail(ctx: click.Context, message: str, exit_code: int) -> None:
    lines = message.strip().splitlines() or ["failed"]
    _say(f"Error: {lines[0]}", err=True)
    ctx.exit(exit_code)


@contextmanager
def _writing(path: str) -> Iterator[None]:
    """Name ``path`` in an OSError that does not (a full disk fails a write, not an open)."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror or str(error), path) from None


def _os_error_text(error: OSError) -> str:
    if error.filename is None:
        return str(error)  # pandas: "Cannot save file into a non-existent directory: 'out'"
    names = f"{error.filename}" + (f" -> {error.filename2}" if error.filename2 else "")
    return f"{names}: {error.strerror or error}"


class OutputPath(click.Path):
    """A file (or, with ``folder=True``, a folder) the command writes, checked before any work starts:
    a batch must not run for an hour to fail on its ``--html`` (issue 10). A file's folder must exist;
    a folder is created with its parents, so its nearest existing ancestor must be a folder."""

    def __init__(self, folder: bool = False) -> None:
        super().__init__(file_okay=not folder, dir_okay=folder, writable=True)
        self.folder = folder

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = super().convert(value, param, ctx)
        path = Path(os.fspath(text)).expanduser().absolute()
        if self.folder:
            existing = next(p for p in (path, *path.parents) if p.exists())
        else:
            existing = path.parent
            if not existing.exists():
                self.fail(f"folder '{existing}' does not exist.", param, ctx)
        if not existing.is_dir():
            self.fail(f"'{existing}' is a file, not a folder.", param, ctx)
        if not os.access(existing, os.W_OK | os.X_OK):
            self.fail(f"folder '{existing}' is not writable.", param, ctx)
        return text


class NotebookPath(click.Path):
    """A notebook to execute: an existing .ipynb file holding notebook JSON, checked before any kernel starts."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = super().convert(value, param, ctx)
        path = Path(os.fspath(text))
        if not path.is_file() or path.suffix != ".ipynb":
            return text  # the API says it is missing or not a notebook, as it does for Python callers
        try:
            with open(path, encoding="utf-8") as handle:
                content = json.load(handle)
        except (ValueError, UnicodeDecodeError) as error:
            self.fail(f"'{text}' is not a notebook: it does not hold JSON ({error}).", param, ctx)
        if not isinstance(content, dict) or not isinstance(content.get("cells"), list):
            self.fail(f"'{text}' is not a notebook: its JSON has no list of cells.", param, ctx)
        return text


class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and the infinities (nan passes every comparison of a range)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number


TOLERANCE = FiniteFloat(min=0)
SECONDS = click.IntRange(min=1, max=10 ** 9)  # papermill takes whole seconds: 2.5 would fail every cell


@click.group(cls=TrackerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="JUPYTER_TRACKER_DB", type=click.Path(dir_okay=False),
              help="Store file (default: $JUPYTER_TRACKER_DB, else the nearest .jupyter_tracker/tracker.db).")
@click.version_option(package_name="jupyter_tracker")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Browse and check the runs recorded by %%track."""
    ctx.obj = {"db": db}


@cli.command()
@click.option("--experiment", "-e", help="Only runs of this experiment.")
@click.option("--name", "-n", help="Only runs with this name.")
@click.option("--last", "-l", type=click.IntRange(min=1), help="Only the N most recent runs.")
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@CSV_FORMULAS
@click.pass_obj
def runs(obj: dict, experiment: str | None, name: str | None, last: int | None, fmt: str, csv_formulas: bool) -> None:
    """List runs, oldest first, with their params, final metrics and tags."""
    last = None if last is None else min(last, MAX_ROWS)
    frame = api.runs(experiment=experiment, name=name, last=last, db=obj["db"])
    if fmt == "table":
        frame = frame.assign(run_id=frame["run_id"].str[:8], start=frame["start"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    _echo_frame(frame, fmt, empty="no runs", formulas=csv_formulas)


@cli.command()
@click.argument("run")
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@CSV_FORMULAS
@click.pass_obj
def show(obj: dict, run: str, fmt: str, csv_formulas: bool) -> None:
    """Everything recorded about RUN (any unique prefix of its id)."""
    record = api.get_run(run, db=obj["db"])
    if fmt == "table":
        _say(str(record))
    elif fmt == "json":
        _data(json_text(record.to_dict()))  # the very shape of the server's runs/<id> route
    else:
        import pandas as pd

        rows = [("run", k, v) for k, v in record.to_dict().items() if not isinstance(v, (dict, list))]
        rows += [("param", k, v) for k, v in record.params.items()]
        rows += [("metric", k, v) for k, v in record.metrics.items()]
        rows += [("tag", k, v) for k, v in record.tags.items()]
        rows += [("seed", s.source, s.value) for s in record.seeds]
        rows += [(r.role, r.name, r.fingerprint.hash if r.fingerprint else r.note) for r in record.inputs + record.outputs]
        _data(csv_text(pd.DataFrame(rows, columns=["section", "key", "value"]), csv_formulas), newline=False)


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@CSV_FORMULAS
@click.pass_obj
def compare(obj: dict, runs: tuple[str, ...], fmt: str, csv_formulas: bool) -> None:
    """Compare two or more RUNS side by side: params, seeds, data, metrics, code, packages."""
    comparison = api.compare(*runs, db=obj["db"])
    if fmt == "table":
        _say(str(comparison))
    elif fmt == "json":
        _data(json_text(comparison.to_dict()))
    else:
        import pandas as pd

        frames = {"params": comparison.params_frame(), "metrics": comparison.metrics_frame(),
                  "data": comparison.data_frame()}
        combined = pd.concat(frames, names=["section", "key"])
        _data(csv_text(combined, csv_formulas, index=True), newline=False)


@cli.command()
@click.option("--format", "-f", "fmt", type=click.Choice(["csv", "json", "parquet"]), default="csv", show_default=True)
@click.option("--output", "-o", type=OutputPath(), help="File to write (default: stdout; parquet needs a file).")
@CSV_FORMULAS
@click.pass_obj
def export(obj: dict, fmt: str, output: str | None, csv_formulas: bool) -> None:
    """Export the runs table as csv, json or parquet."""
    if output is None:
        if fmt == "parquet":
            raise click.UsageError("parquet export needs --output FILE")
        frame = api.runs(db=obj["db"])
        _data(csv_text(frame, csv_formulas) if fmt == "csv" else frame_json(frame))
        return
    with _writing(output):
        path = api.export(output, format=fmt, formulas=csv_formulas, db=obj["db"])
    _say(f"wrote {path}", err=True)


@cli.command()
@click.option("--interrupted", "-i", "interrupted", multiple=True, metavar="RUN",
              help="Also mark RUN interrupted: a running run of another host whose process is known to be gone "
                   "(repeatable; a run whose process is alive on this host is refused).")
@click.option("--host-down", "hosts_down", multiple=True, metavar="HOST",
              help="Also mark every running run recorded on HOST interrupted: a machine that crashed or was "
                   "shut down (repeatable).")
@click.pass_obj
def doctor(obj: dict, interrupted: tuple[str, ...], hosts_down: tuple[str, ...]) -> None:
    """Check the store's integrity and its artifact files; mark runs of killed processes of this host
    interrupted and remove files they left half-written. Exit 1 if a check fails."""

    _say(f"store: {resolve_settings(obj['db']).db_path}")
    checks = api.doctor(interrupted=list(interrupted), hosts_down=list(hosts_down), db=obj["db"])
    for check in checks:
        _say(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        sys.exit(1)


@cli.command()
@click.argument("run")
@click.option("--repeat", "-r", type=click.IntRange(min=1, max=MAX_EXECUTIONS), default=1, show_default=True,
              help="Execute the recorded history this many times.")
@click.option("--rtol", type=TOLERANCE, help="Relative tolerance for metrics (default 1e-9).")
@click.option("--atol", type=TOLERANCE, help="Absolute tolerance for metrics (default 1e-12).")
@click.option("--workers", "-w", type=click.IntRange(min=1, max=MAX_WORKERS), default=1, show_default=True,
              help="Repeats executed at the same time.")
@click.option("--timeout", type=SECONDS, help="Whole seconds a cell may run.")
@click.option("--kernel", "kernel_name", default="python3", show_default=True, help="Kernel to execute with.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Timings (fit and score times, durations) count as differences too.")
@click.pass_obj
def rerun(obj: dict, run: str, repeat: int, rtol: float | None, atol: float | None, workers: int,
          timeout: float | None, kernel_name: str, fmt: str, strict: bool) -> None:
    """Re-execute RUN from its recorded execution history in fresh kernels and print the verdict.

    Exit code 0: REPRODUCED; 1: DIFFERS; 2: could not execute (a cell raised, the kernel died).
    """
    verdict = repro.rerun(run, repeat=repeat, rtol=rtol, atol=atol, workers=workers, timeout=timeout,
                        kernel_name=kernel_name, db=obj["db"], strict=strict)
    if fmt == "json":
        _data(json_text(verdict.to_dict()))
    else:
        _say(str(verdict))
    sys.exit(verdict.exit_code)


@cli.command()
@click.argument("notebook", type=NotebookPath())
@click.option("--parameter", "-p", "parameters", nargs=2, multiple=True, metavar="NAME VALUE",
              help="A papermill parameter for every execution (repeatable).")
@click.option("--grid", "-g", "grids", multiple=True, metavar="NAME=V1,V2,...",
              help="A parameter taking each of these values (repeatable: every combination runs).")
@click.option("--repeat", "-r", type=click.IntRange(min=1, max=MAX_EXECUTIONS), default=1, show_default=True,
              help="Executions of each combination.")
@click.option("--workers", "-w", type=click.IntRange(min=1, max=MAX_WORKERS),
              help="Executions at the same time (default: cores).")
@click.option("--output-dir", "-o", type=OutputPath(folder=True),
              help="Where executed notebooks are kept (default: ./batch-<id>).")
@click.option("--scheduler", metavar="ADDRESS", help="Run on this Dask distributed scheduler instead.")
@click.option("--rtol", type=TOLERANCE, help="Relative tolerance when comparing repeats.")
@click.option("--atol", type=TOLERANCE, help="Absolute tolerance when comparing repeats.")
@click.option("--timeout", type=SECONDS, help="Whole seconds a cell may run.")
@click.option("--kernel", "kernel_name", default="python3", show_default=True, help="Kernel to execute with.")
@click.option("--html", "html_file", type=OutputPath(), help="Also write the report as an HTML page.")
@click.option("--strict", is_flag=True, help="Timings (fit and score times, durations) count as differences too.")
@click.pass_obj
def batch(obj: dict, notebook: str, parameters: tuple[tuple[str, str], ...], grids: tuple[str, ...],
          repeat: int, workers: int | None, output_dir: str | None, scheduler: str | None, rtol: float | None,
          atol: float | None, timeout: float | None, kernel_name: str, html_file: str | None, strict: bool) -> None:
    """Execute NOTEBOOK for every grid combination x repeat with papermill, in parallel, then report.

    Exit code 0 when every execution finished and the repeats agree, 1 when repeats disagree,
    2 when an execution failed (any cell raised, tracked or not).
    """

    grid = parse_grid(list(grids))
    executions = math.prod(len(values) for values in grid.values()) * repeat
    if executions > MAX_EXECUTIONS:
        raise UsageProblem(f"this batch would run {executions:,} executions ({executions // repeat:,} combinations x "
                           f"{repeat} repeats): at most {MAX_EXECUTIONS:,} at once")
    report = repro.batch(notebook, parameters={name: parse_value(value) for name, value in parameters},
                       grid=grid, repeat=repeat, workers=workers, output_dir=output_dir,
                       scheduler=scheduler, rtol=rtol, atol=atol, timeout=timeout, kernel_name=kernel_name,
                       db=obj["db"], strict=strict)
    _say(str(report))
    _write_html(report, html_file)
    sys.exit(report.exit_code)


@cli.command()
@click.argument("batch_id", metavar="BATCH")
@click.option("--html", "html_file", type=OutputPath(), help="Write the report as an HTML page.")
@click.option("--rtol", type=TOLERANCE, help="Relative tolerance when comparing repeats.")
@click.option("--atol", type=TOLERANCE, help="Absolute tolerance when comparing repeats.")
@click.option("--strict", is_flag=True, help="Timings (fit and score times, durations) count as differences too.")
@click.pass_obj
def report(obj: dict, batch_id: str, html_file: str | None, rtol: float | None, atol: float | None,
           strict: bool) -> None:
    """The report of batch BATCH again, as text (and as an HTML page with charts)."""
    result = repro.report(batch_id, rtol=rtol, atol=atol, db=obj["db"], strict=strict)
    _say(str(result))
    _write_html(result, html_file)


def _write_html(report: Any, html_file: str | None) -> None:
    if html_file:
        with _writing(html_file), open(html_file, "w", encoding="utf-8") as handle:
            handle.write(report.to_html_page())
        _say(f"wrote {html_file}", err=True)


# ------------------------------------------------------- versioning and validation (issue 6)
def _validation_options(command: Any) -> Any:
    """--rule, --psi, --ks and --null-rate: what validate checks, shared by validate and promote."""
    for option in reversed([
        click.option("--rule", "rules", multiple=True, metavar="'METRIC OP LIMIT'",
                     help="A metric rule, e.g. 'acc >= baseline - 0.01' or 'loss <= 0.2'; repeatable "
                          "(default: metrics known to be better higher or lower must not get worse)."),
        click.option("--psi", type=TOLERANCE, help="Drift fails above this PSI (default 0.2)."),
        click.option("--ks", type=TOLERANCE, help="Drift also fails above this KS statistic."),
        click.option("--null-rate", type=TOLERANCE,
                     help="A column fails when its share of nulls grows by more than this (default 0.05)."),
    ]):
        command = option(command)
    return command


def _thresholds(psi: float | None, ks: float | None, null_rate: float | None) -> dict[str, float]:
    given = {"psi": psi, "ks": ks, "null_rate": null_rate}
    return {key: value for key, value in given.items() if value is not None}


@cli.command()
@click.option("--model", help="Only this model name.")
@click.option("--stage", "-s", help="Only this stage.")
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
def registry(obj: dict, model: str | None, stage: str | None, fmt: str) -> None:
    """The model registry's history: who promoted or rolled back which run's model, when, in which stage."""
    frame = api.registry(name=model, stage=stage, db=obj["db"])
    if fmt == "table":
        frame = frame.assign(
            time=frame["time"].dt.strftime("%Y-%m-%d %H:%M:%S"), run_id=frame["run_id"].str[:8],
            previous_run_id=frame["previous_run_id"].str[:8], model_hash=frame["model_hash"].str[:12],
        )
    _echo_frame(frame, fmt, empty="no promotions yet")


@cli.command()
@click.argument("run")
@click.option("--stage", "-s", default="production", show_default=True, help="Stage to promote to.")
@click.option("--model", default="model", show_default=True, help="Model name, as given to log_model.")
@click.option("--force", is_flag=True, help="Promote even if the run fails validation against the current holder.")
@_validation_options
@click.pass_obj
def promote(obj: dict, run: str, stage: str, model: str, force: bool, rules: tuple[str, ...],
            psi: float | None, ks: float | None, null_rate: float | None) -> None:
    """Promote RUN's model to a stage, after validating it against the stage's current holder."""
    event = api.promote(run, stage=stage, name=model, force=force, rules=list(rules) or None,
                        thresholds=_thresholds(psi, ks, null_rate), db=obj["db"])
    _say(str(event))


@cli.command()
@click.option("--stage", "-s", default="production", show_default=True, help="Stage to roll back.")
@click.option("--model", default="model", show_default=True, help="Model name, as given to log_model.")
@click.pass_obj
def rollback(obj: dict, stage: str, model: str) -> None:
    """Give a stage back to the model promoted there before the current one."""
    _say(str(api.rollback(name=model, stage=stage, db=obj["db"])))


@cli.command()
@click.argument("run")
@click.option("--baseline", "-b", default="production", show_default=True,
              help="A stage of --model (its current holder), or a run id.")
@click.option("--model", default="model", show_default=True, help="Model name whose stage is the baseline.")
@_validation_options
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_obj
def validate(obj: dict, run: str, baseline: str, model: str, rules: tuple[str, ...], psi: float | None,
             ks: float | None, null_rate: float | None, fmt: str) -> None:
    """Validate RUN against a baseline: metric rules, schema, null rates and drift. Exit 1 if a check fails."""
    result = api.validate(run, baseline=baseline, rules=list(rules) or None, name=model,
                          thresholds=_thresholds(psi, ks, null_rate), db=obj["db"])
    if fmt == "table":
        _say(str(result))
    else:
        _data(json_text(result.to_dict()))
    if not result.passed:
        sys.exit(1)


# ------------------------------------------------------- the team's MLflow server (issue 15)
@cli.command()
@click.argument("uri")
@click.argument("runs", nargs=-1)
@click.option("--experiment", "-e", help="Only runs of this experiment.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=4, show_default=True,
              help="Runs sent at the same time.")
@click.pass_obj
def push(obj: dict, uri: str, runs: tuple[str, ...], experiment: str | None, dry_run: bool, workers: int) -> None:
    """Copy RUNS (default: all) to the MLflow tracking server at URI; again, only what is new.

    Authentication: MLflow's variables (MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_TOKEN).
    """
    from .sync import push as push_runs  # sync sits above the api: MLflow loads only when pushing

    report = push_runs(uri, runs=list(runs) or None, experiment=experiment, dry_run=dry_run, workers=workers,
                       db=obj["db"])
    _say(str(report))


def _echo_frame(frame: Any, fmt: str, empty: str, formulas: bool = False) -> None:
    if fmt == "csv":
        _data(csv_text(frame, formulas), newline=False)
    elif fmt == "json":
        _data(frame_json(frame))
    elif frame.empty:
        _say(empty)
    else:
        _say(frame.to_string(index=False, na_rep="-"))


def main() -> None:
    cli(prog_name="jupyter-tracker")
