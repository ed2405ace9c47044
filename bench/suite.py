"""jupyter_tracker against MLflow: the benchmark suite of issue 7 (run on demand, never as a test).

    make bench                                  # its own virtualenv (.venv-bench) with MLflow, then this
    python bench/suite.py [--quick] [--only record_run,track_cell] [--output bench/results]

Every case times jupyter_tracker and its MLflow equivalent (SQLite backend) in the same run,
interleaved, and reports medians, spreads (quartiles) and ratios; the issue's targets are
checked against them. Results go to ``bench/results/<date>.json`` and ``.md``. ``--quick``
runs small sizes to try the suite out, and writes its results to the temporary folder only.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

# No background sends from MLflow on a machine without network, and no migration chatter.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# Kernels (ours, papermill's, batch's) must be this interpreter's: its kernel spec comes first.
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    p for p in (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH")) if p)

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cases  # noqa: E402
from harness import Case, machine  # noqa: E402

HERE = Path(__file__).resolve().parent
CASES = {
    "record_run": cases.record_run,
    "track_cell": cases.track_cell,
    "step_series": cases.step_series,
    "track_history": cases.track_history,  # issue 12: the %%track cost after 10, 1,000 and 5,000 cells
    "live_latency": cases.live_latency,  # issue 12: log_metric to visible in another process
    "runs_frame": cases.runs_frame,
    "runs_table": cases.runs_table,  # issue 14: the table's first page and groups at 100,000 runs
    "fingerprints": cases.fingerprints,
    "load_ext": cases.load_ext,
    "batch": cases.batch,
    "rerun": cases.rerun_cost,
    "push_runs": cases.push_runs,  # issue 15: against a real `mlflow server` started by the case
    "push_series": cases.push_series,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repetitions (results not kept)")
    parser.add_argument("--only", default="", help=f"comma-separated cases: {', '.join(CASES)}")
    parser.add_argument("--output", default=str(HERE / "results"), help="folder for <date>.json and <date>.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (stores, notebooks)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(CASES)
    unknown = [name for name in chosen if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}: use {', '.join(CASES)}")
    for name in ("alembic", "mlflow", "papermill", "traitlets", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)

    # Installed from a wheel, the package is byte-compiled by pip (as MLflow and pandas are here); the
    # editable install leaves that to the first import, which PYTHONDONTWRITEBYTECODE may forbid.
    compileall.compile_dir(str(HERE.parent / "jupyter_tracker"), quiet=1)
    work = Path(tempfile.mkdtemp(prefix="jt-bench-"))
    here = os.getcwd()
    os.chdir(work)  # MLflow keeps run artifacts in ./mlruns
    context = cases.Context(work=work, quick=args.quick)
    started = time.perf_counter()
    about = machine()
    results: list[Case] = []
    failures: dict[str, str] = {}
    try:
        for name in chosen:
            print(f"== {name}", file=sys.stderr, flush=True)
            case_started = time.perf_counter()
            try:
                made = CASES[name](context)
            except Exception:  # noqa: BLE001  (one broken case must not cost the others' figures)
                failures[name] = traceback.format_exc()
                print(failures[name], file=sys.stderr)
                continue
            made = made if isinstance(made, list) else [made]
            for case in made:
                case.seconds = time.perf_counter() - case_started
                print(render_case(case), file=sys.stderr, flush=True)
            results.extend(made)
    finally:
        os.chdir(here)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - started
    output = Path(tempfile.mkdtemp(prefix="jt-bench-quick-")) if args.quick else Path(args.output)
    stem = dt.date.today().isoformat()
    document = {
        "date": stem, "quick": args.quick, "machine": about, "suite_seconds": total,
        "cases": [case.to_dict() for case in results], "failures": failures,
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{stem}.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    (output / f"{stem}.md").write_text(render(document, results), encoding="utf-8")
    print(f"results: {output / stem}.json and .md ({total / 60:.1f} min)", file=sys.stderr)
    return 1 if failures else 0


# ------------------------------------------------------------------ rendering
def duration(seconds: float) -> str:
    if abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if abs(seconds) < 1:
        return f"{seconds * 1e3:.3g} ms" if abs(seconds) < 0.1 else f"{seconds * 1e3:.0f} ms"
    return f"{seconds:.2f} s"


def rate(value: float, unit: str) -> str:
    return f"{value:.3g} {unit}" if unit == "GB/s" else f"{value:,.0f} {unit}"


def render_case(case: Case) -> str:
    data = case.to_dict()
    lines = [f"### {case.title}", "",
             "| method | median | spread (quartiles) | rate | jupyter_tracker ÷ this | full content |",
             "|---|---|---|---|---|---|"]
    for row in data["rows"]:
        seconds = row["seconds"]
        spread = f"{duration(seconds['q1'])} – {duration(seconds['q3'])}"
        speed = ""
        if "rate" in row:
            r = row["rate"]
            speed = f"{rate(r['median'], r['unit'])} ({rate(r['q1'], r['unit'])} – {rate(r['q3'], r['unit'])})"
        ratio = f"{row['ratio_jt_to_this']:.3g}" if "ratio_jt_to_this" in row else ""
        full = {True: "yes", False: "no"}.get(row.get("full_content"), "")
        lines.append(f"| {row['method']} | {duration(seconds['median'])} | {spread} | {speed} | {ratio} | {full} |")
    lines.append("")
    for target in case.targets:
        lines.append(f"- target: {target.text}: **{'met' if target.met else 'MISSED'}** ({target.measured})")
    for note in case.notes:
        lines.append(f"- {note}")
    lines.append(f"- {data['rows'][0]['seconds']['n']} repetitions per method; case took {case.seconds:.0f} s")
    return "\n".join(lines) + "\n"


def figure(row: dict) -> str:
    """A row's median: its rate when it has one (points/s, GB/s), else its time."""
    if "rate" in row:
        return rate(row["rate"]["median"], row["rate"]["unit"])
    return duration(row["seconds"]["median"])


def summary(document: dict) -> str:
    """One line per case: jupyter_tracker's figure, MLflow's, their ratio and the targets (the README's table)."""
    lines = ["| case | jupyter_tracker | MLflow | time ratio | target | measured | met |",
             "|---|---|---|---|---|---|---|"]
    full = {True: " (full content)", False: " (not full content)"}
    for case in document["cases"]:
        rows = case["rows"]
        ours = [r for r in rows if r["tool"] == "jupyter_tracker"]
        theirs = [r for r in rows if r["tool"] == "mlflow"]
        if case["key"] == "batch":
            mine = f"{figure(ours[0])} / {figure(ours[1])}, speed-up {case['speedup_jt']:.2f}x"
            other = f"{figure(theirs[0])} / {figure(theirs[1])}, speed-up {case['speedup_mlflow']:.2f}x"
        else:
            mine = f"{figure(ours[0])}{full.get(ours[0].get('full_content'), '')}"
            other = f"{figure(theirs[0])}{full.get(theirs[0].get('full_content'), '')}" if theirs else "—"
        ratio = f"{theirs[0]['ratio_jt_to_this']:.2g}" if theirs and "ratio_jt_to_this" in theirs[0] else "—"
        targets = case["targets"] or [{"target": "—", "measured": "", "met": None}]
        for target in targets:
            met = {True: "yes", False: "**no**"}.get(target["met"], "")
            lines.append(f"| {case['title']} | {mine} | {other} | {ratio} | {target['target']} | {target['measured']} | {met} |")
    return "\n".join(lines) + "\n"


def render(document: dict, results: list[Case]) -> str:
    about = document["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in about["versions"].items() if version)
    lines = [
        f"# jupyter_tracker against MLflow: {document['date']}{' (quick sizes)' if document['quick'] else ''}", "",
        f"Machine: {about['cpus']} CPUs ({about['cpu_model']}), {about['memory_gib']} GiB, Python {about['python']}, "
        f"{about['platform']}; load average at start {', '.join(f'{x:.2f}' for x in about['load_average_at_start'] or [])}.",
        f"Versions: {versions}. MLflow on its SQLite backend.", "",
        "Every figure was taken in the same run as its MLflow counterpart, repetitions interleaved, as medians; "
        "spreads are the quartiles (min – max below 4 repetitions). The machine is shared: compare ratios, "
        "not absolute times, across results files.", "",
        f"Suite wall time: {document['suite_seconds'] / 60:.1f} min (`make bench`).", "",
        "## Summary", "", summary(document),
        "## Targets", "", "| case | target | measured | met |", "|---|---|---|---|",
    ]
    for case in results:
        for target in case.targets:
            lines.append(f"| {case.key} | {target.text} | {target.measured} | {'yes' if target.met else '**no**'} |")
    lines += ["", "## Cases", ""]
    lines += [render_case(case) for case in results]
    if document["failures"]:
        lines += ["## Cases that failed", ""]
        for name, text in document["failures"].items():
            lines += [f"### {name}", "", "```", text.rstrip(), "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
