"""``jupyter-tracker`` (also ``jupyter tracker``): the command line over the Python API.

Every TrackerError becomes one line on stderr and the error's exit code; no tracebacks.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from . import api
from .display import frame_json, json_text
from .errors import TrackerError

FORMATS = click.Choice(["table", "csv", "json"])


class TrackerGroup(click.Group):
    """Translates TrackerError in one place: one stderr line, the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)


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
@click.pass_obj
def runs(obj: dict, experiment: str | None, name: str | None, last: int | None, fmt: str) -> None:
    """List runs, oldest first, with their params, final metrics and tags."""
    frame = api.runs(experiment=experiment, name=name, last=last, db=obj["db"])
    if fmt == "table":
        frame = frame.assign(run_id=frame["run_id"].str[:8], start=frame["start"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    _echo_frame(frame, fmt, empty="no runs")


@cli.command()
@click.argument("run")
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
def show(obj: dict, run: str, fmt: str) -> None:
    """Everything recorded about RUN (any unique prefix of its id)."""
    record = api.get_run(run, db=obj["db"])
    if fmt == "table":
        click.echo(str(record))
    elif fmt == "json":
        click.echo(json_text(_run_dict(record)))
    else:
        import pandas as pd

        rows = [("run", k, v) for k, v in _run_dict(record).items() if not isinstance(v, (dict, list))]
        rows += [("param", k, v) for k, v in record.params.items()]
        rows += [("metric", k, v) for k, v in record.metrics.items()]
        rows += [("seed", s.source, s.value) for s in record.seeds]
        rows += [(r.role, r.name, r.fingerprint.hash if r.fingerprint else r.note) for r in record.inputs + record.outputs]
        click.echo(pd.DataFrame(rows, columns=["section", "key", "value"]).to_csv(index=False), nl=False)


@cli.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--format", "-f", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_obj
def compare(obj: dict, runs: tuple[str, ...], fmt: str) -> None:
    """Compare two or more RUNS side by side: params, seeds, data, metrics, code, packages."""
    comparison = api.compare(*runs, db=obj["db"])
    if fmt == "table":
        click.echo(str(comparison))
    elif fmt == "json":
        click.echo(json_text(comparison.to_dict()))
    else:
        import pandas as pd

        frames = {"params": comparison.params_frame(), "metrics": comparison.metrics_frame(),
                  "data": comparison.data_frame()}
        combined = pd.concat(frames, names=["section", "key"])
        click.echo(combined.to_csv(), nl=False)


@cli.command()
@click.option("--format", "-f", "fmt", type=click.Choice(["csv", "json", "parquet"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File to write (default: stdout; parquet needs a file).")
@click.pass_obj
def export(obj: dict, fmt: str, output: str | None) -> None:
    """Export the runs table as csv, json or parquet."""
    if output is None:
        if fmt == "parquet":
            raise click.UsageError("parquet export needs --output FILE")
        frame = api.runs(db=obj["db"])
        click.echo(frame.to_csv(index=False) if fmt == "csv" else frame_json(frame))
        return
    path = api.export(output, format=fmt, db=obj["db"])
    click.echo(f"wrote {path}", err=True)


@cli.command()
@click.pass_obj
def doctor(obj: dict) -> None:
    """Check the store's integrity; mark runs of killed kernels as interrupted."""
    from .config import resolve_settings

    click.echo(f"store: {resolve_settings(obj['db']).db_path}")
    checks = api.doctor(db=obj["db"])
    for check in checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        sys.exit(1)


@cli.command()
@click.argument("run")
@click.option("--repeat", "-r", type=click.IntRange(min=1), default=1, show_default=True,
              help="Execute the recorded history this many times.")
@click.option("--rtol", type=click.FloatRange(min=0), help="Relative tolerance for metrics (default 1e-9).")
@click.option("--atol", type=click.FloatRange(min=0), help="Absolute tolerance for metrics (default 1e-12).")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=1, show_default=True,
              help="Repeats executed at the same time.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds a cell may run.")
@click.option("--kernel", "kernel_name", default="python3", show_default=True, help="Kernel to execute with.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def rerun(obj: dict, run: str, repeat: int, rtol: float | None, atol: float | None, workers: int,
          timeout: float | None, kernel_name: str, fmt: str) -> None:
    """Re-execute RUN from its recorded execution history in fresh kernels and print the verdict.

    Exit code 0: REPRODUCED; 1: DIFFERS; 2: could not execute.
    """
    verdict = api.rerun(run, repeat=repeat, rtol=rtol, atol=atol, workers=workers, timeout=timeout,
                        kernel_name=kernel_name, db=obj["db"])
    click.echo(json_text(verdict.to_dict()) if fmt == "json" else str(verdict))
    sys.exit(verdict.exit_code)


@cli.command()
@click.argument("notebook", type=click.Path(dir_okay=False))
@click.option("--parameter", "-p", "parameters", nargs=2, multiple=True, metavar="NAME VALUE",
              help="A papermill parameter for every execution (repeatable).")
@click.option("--grid", "-g", "grids", multiple=True, metavar="NAME=V1,V2,...",
              help="A parameter taking each of these values (repeatable: every combination runs).")
@click.option("--repeat", "-r", type=click.IntRange(min=1), default=1, show_default=True,
              help="Executions of each combination.")
@click.option("--workers", "-w", type=click.IntRange(min=1), help="Executions at the same time (default: cores).")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False),
              help="Where executed notebooks are kept (default: ./batch-<id>).")
@click.option("--scheduler", metavar="ADDRESS", help="Run on this Dask distributed scheduler instead.")
@click.option("--rtol", type=click.FloatRange(min=0), help="Relative tolerance when comparing repeats.")
@click.option("--atol", type=click.FloatRange(min=0), help="Absolute tolerance when comparing repeats.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds a cell may run.")
@click.option("--kernel", "kernel_name", default="python3", show_default=True, help="Kernel to execute with.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="Also write the report as an HTML page.")
@click.pass_obj
def batch(obj: dict, notebook: str, parameters: tuple[tuple[str, str], ...], grids: tuple[str, ...],
          repeat: int, workers: int | None, output_dir: str | None, scheduler: str | None, rtol: float | None,
          atol: float | None, timeout: float | None, kernel_name: str, html_file: str | None) -> None:
    """Execute NOTEBOOK for every grid combination x repeat with papermill, in parallel, then report.

    Exit code 0 when every execution succeeded, 1 when any failed.
    """
    from .grid import parse_grid, parse_value

    report = api.batch(notebook, parameters={name: parse_value(value) for name, value in parameters},
                       grid=parse_grid(list(grids)), repeat=repeat, workers=workers, output_dir=output_dir,
                       scheduler=scheduler, rtol=rtol, atol=atol, timeout=timeout, kernel_name=kernel_name,
                       db=obj["db"])
    click.echo(str(report))
    _write_html(report, html_file)
    sys.exit(report.exit_code)


@cli.command()
@click.argument("batch_id", metavar="BATCH")
@click.option("--html", "html_file", type=click.Path(dir_okay=False), help="Write the report as an HTML page.")
@click.option("--rtol", type=click.FloatRange(min=0), help="Relative tolerance when comparing repeats.")
@click.option("--atol", type=click.FloatRange(min=0), help="Absolute tolerance when comparing repeats.")
@click.pass_obj
def report(obj: dict, batch_id: str, html_file: str | None, rtol: float | None, atol: float | None) -> None:
    """The report of batch BATCH again, as text (and as an HTML page with charts)."""
    result = api.report(batch_id, rtol=rtol, atol=atol, db=obj["db"])
    click.echo(str(result))
    _write_html(result, html_file)


def _write_html(report: Any, html_file: str | None) -> None:
    if html_file:
        with open(html_file, "w", encoding="utf-8") as handle:
            handle.write(report.to_html_page())
        click.echo(f"wrote {html_file}", err=True)


# ------------------------------------------------------- versioning and validation (issue 6)
def _validation_options(command: Any) -> Any:
    """--rule, --psi, --ks and --null-rate: what validate checks, shared by validate and promote."""
    for option in reversed([
        click.option("--rule", "rules", multiple=True, metavar="'METRIC OP LIMIT'",
                     help="A metric rule, e.g. 'acc >= baseline - 0.01' or 'loss <= 0.2'; repeatable "
                          "(default: metrics known to be better higher or lower must not get worse)."),
        click.option("--psi", type=click.FloatRange(min=0), help="Drift fails above this PSI (default 0.2)."),
        click.option("--ks", type=click.FloatRange(min=0), help="Drift also fails above this KS statistic."),
        click.option("--null-rate", type=click.FloatRange(min=0),
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
    click.echo(str(event))


@cli.command()
@click.option("--stage", "-s", default="production", show_default=True, help="Stage to roll back.")
@click.option("--model", default="model", show_default=True, help="Model name, as given to log_model.")
@click.pass_obj
def rollback(obj: dict, stage: str, model: str) -> None:
    """Give a stage back to the model promoted there before the current one."""
    click.echo(str(api.rollback(name=model, stage=stage, db=obj["db"])))


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
    click.echo(str(result) if fmt == "table" else json_text(result.to_dict()))
    if not result.passed:
        sys.exit(1)


def _echo_frame(frame: Any, fmt: str, empty: str) -> None:
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame_json(frame))
    elif frame.empty:
        click.echo(empty)
    else:
        click.echo(frame.to_string(index=False, na_rep="-"))


def _run_dict(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id, "experiment": run.experiment, "name": run.name, "status": run.status,
        "start": run.start, "end": run.end, "duration": run.duration, "source": run.source,
        "params": run.params, "tags": run.tags, "seeds": [s.__dict__ for s in run.seeds],
        "metrics": run.metrics, "metric_steps": run.metric_steps,
        "inputs": [_ref_dict(r) for r in run.inputs], "outputs": [_ref_dict(r) for r in run.outputs],
        "code": run.code, "history": run.history, "environment": run.environment,
        "error": run.error, "warnings": run.warnings,
    }


def _ref_dict(ref: Any) -> dict[str, Any]:
    return {"role": ref.role, "name": ref.name, "source": ref.source, "note": ref.note,
            "fingerprint": ref.fingerprint.to_dict() if ref.fingerprint else None}


def main() -> None:
    cli(prog_name="jupyter-tracker")
