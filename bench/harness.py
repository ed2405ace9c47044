"""What every benchmark case shares: interleaved timing, robust statistics, kernels, the machine.

The machines this runs on are shared and noisy, so no figure stands alone: each case times
jupyter_tracker and its MLflow equivalent in the same process, alternating repetitions (the
order rotates each round, so neither side always runs first), and reports medians, spreads and
the ratio of medians.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


# ------------------------------------------------------------------ statistics
@dataclass
class Samples:
    """Repeated measurements of one method, in seconds (or any unit: ``unit`` says)."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def quartiles(self) -> tuple[float, float]:
        """First and third quartiles (the min and max below 4 samples, where quartiles mean little)."""
        values = sorted(self.values)
        if len(values) < 4:
            return values[0], values[-1]
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return q1, q3

    def summary(self) -> dict[str, float]:
        q1, q3 = self.quartiles()
        return {"median": self.median, "q1": q1, "q3": q3, "min": min(self.values), "max": max(self.values),
                "n": len(self.values)}


def interleave(methods: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1,
               setup: Callable[[str], Any] | None = None) -> dict[str, Samples]:
    """Time each method ``rounds`` times, one of each per round, the order rotating every round.

    ``setup(name)`` runs untimed before each call (fresh state); a method may return its own
    duration (a float, e.g. measured inside a kernel) instead of being timed from outside.
    Garbage is collected before each call, so that no method pays for another's: what exists
    before the rounds is frozen first, which keeps those collections short.
    """
    names = list(methods)
    for _ in range(warmup):
        for name in names:
            if setup:
                setup(name)
            methods[name]()
    samples = {name: Samples() for name in names}
    gc.collect()
    gc.freeze()
    try:
        for round_ in range(rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                if setup:
                    setup(name)
                gc.collect()
                started = time.perf_counter()
                result = methods[name]()
                elapsed = time.perf_counter() - started
                samples[name].values.append(result if isinstance(result, float) else elapsed)
    finally:
        gc.unfreeze()
    return samples


# ------------------------------------------------------------------ results
@dataclass
class Row:
    """One line of a case's table: a method's timing, and what it is per unit of work."""

    method: str
    tool: str  # "jupyter_tracker", "mlflow" or "reference"
    samples: Samples
    work: float | None = None  # units of work per repetition (points, bytes) to turn time into a rate
    rate_unit: str | None = None  # "points/s", "GB/s"
    full_content: bool | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "tool": self.tool, "seconds": self.samples.summary(),
                                "note": self.note}
        if self.work is not None:
            q1, q3 = self.samples.quartiles()
            scale = 1e9 if self.rate_unit == "GB/s" else 1.0
            data["rate"] = {"unit": self.rate_unit, "median": self.work / self.samples.median / scale,
                            "q1": self.work / q3 / scale, "q3": self.work / q1 / scale, "work": self.work}
        if self.full_content is not None:
            data["full_content"] = self.full_content
        return data


@dataclass
class Target:
    text: str  # what the issue asks, e.g. "at most 1/10 of MLflow's batch-API time"
    measured: str  # the figure compared with it
    met: bool

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.text, "measured": self.measured, "met": self.met}


@dataclass
class Case:
    key: str
    title: str
    rows: list[Row]
    baseline: str | None = None  # the row every ratio is taken against (jupyter_tracker's median / its)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the whole case, setup included
    extra: dict[str, Any] = field(default_factory=dict)  # case-specific figures (a speed-up)

    def row(self, method: str) -> Row:
        return next(r for r in self.rows if r.method == method)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        jt = next((r for r in self.rows if r.tool == "jupyter_tracker"), None)
        for row in self.rows:
            data = row.to_dict()
            if jt is not None and row is not jt and row.tool != "jupyter_tracker" and jt.samples.median > 0:
                data["ratio_jt_to_this"] = jt.samples.median / row.samples.median
            rows.append(data)
        return {"key": self.key, "title": self.title, "rows": rows, "targets": [t.to_dict() for t in self.targets],
                "notes": self.notes, "case_seconds": self.seconds, **self.extra}


# ------------------------------------------------------------------ kernels
class Kernel:
    """A real ipykernel driven over ZMQ, as JupyterLab drives it; cells are timed at the client."""

    def __init__(self, cwd: str, env: dict[str, str]) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3", cwd=cwd, env=env)

    def execute(self, code: str, timeout: float = 600.0) -> tuple[float, list[dict[str, Any]]]:
        """Run ``code`` as a notebook cell; its wall time from request to idle, and its output messages."""
        client = self.client
        started = time.perf_counter()
        msg_id = client.execute(code, store_history=True)
        outputs = []
        while True:
            message = client.get_iopub_msg(timeout=timeout)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "status" and message["content"]["execution_state"] == "idle":
                elapsed = time.perf_counter() - started
                break
            if kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append(message)
        reply = client.get_shell_msg(timeout=timeout)
        errors = [m for m in outputs if m["msg_type"] == "error"]
        if reply["content"]["status"] != "ok" or errors:
            text = "\n".join("\n".join(m["content"]["traceback"]) for m in errors)
            raise RuntimeError(f"cell failed in the benchmark kernel:\n{code}\n{text}")
        return elapsed, outputs

    def value(self, code: str) -> str:
        """The text the cell prints on stdout."""
        _, outputs = self.execute(code)
        return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"
                       and m["content"]["name"] == "stdout")

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


# ------------------------------------------------------------------ an MLflow tracking server
class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 (SQLite backend, artifacts proxied to a local folder), as a
    team runs one; started in its own process group, so that stopping it stops its workers too."""

    def __init__(self, folder: Path, timeout: float = 180.0) -> None:
        import socket
        import subprocess
        import urllib.request

        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.uri = f"http://127.0.0.1:{port}"
        self._log = open(folder / "server.log", "wb")
        # One worker: MLflow's SQLite backend serialises writes anyway. No job runner (huey processes).
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination",
             str(folder / "artifacts")],
            cwd=folder, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(folder / 'server.log').read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"mlflow server did not answer /health within {timeout:.0f} s")
            time.sleep(0.5)

    def close(self) -> None:
        import signal
        import subprocess

        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._log.close()


# ------------------------------------------------------------------ machine
def machine() -> dict[str, Any]:
    """Where the figures were taken: they compare only within one results file."""
    from importlib import metadata

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kib = int(next(line.split()[1] for line in handle if line.startswith("MemTotal")))
        memory = round(kib / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    versions = {}
    for name in ("jupyter_tracker", "mlflow", "pandas", "numpy", "pyarrow", "xxhash", "ipykernel", "papermill"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpus": os.cpu_count(), "cpu_model": model, "memory_gib": memory,
        "python": sys.version.split()[0], "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }
