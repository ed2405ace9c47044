"""Background jobs started from JupyterLab (reruns): run in a worker thread, polled by id.

A rerun executes a notebook in a fresh kernel and takes seconds to minutes, far longer than a
request may block, so ``POST runs/<id>/rerun`` only queues it here and answers with the job id;
``GET jobs/<id>`` then reports its state, progress and, at the end, the verdict. When the server
shuts down, ``shutdown`` cancels them all: their kernels die at once, and nothing is left running.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any, Callable

from ..errors import JobNotFound, TrackerError
from ..repro.engine import Cancellation

log = logging.getLogger(__name__)

# (executions done, executions in all): what the worker reports while it runs.
Progress = Callable[[int, int], None]
# The work of a job: given a progress callback, returns a result with ``to_dict()`` (a Verdict).
Work = Callable[[Progress], Any]

KEPT_JOBS = 200  # finished jobs remembered for polling; the oldest are forgotten first
SHUTTING_DOWN = "cancelled: the server is shutting down"


@dataclass
class Job:
    job_id: str
    kind: str  # "rerun"
    run_id: str
    state: str  # "queued" | "running" | "finished" | "failed"
    created: float
    started: float | None = None
    ended: float | None = None
    done: int = 0  # executions finished so far
    total: int = 0  # executions in all
    result: dict[str, Any] | None = None  # the verdict, as ``Verdict.to_dict()``
    error: str | None = None  # why the job could not produce a result

    def to_dict(self, now: float) -> dict[str, Any]:
        data = asdict(self)
        start = self.started if self.started is not None else now
        data["elapsed"] = 0.0 if self.started is None else (self.ended or now) - start
        return data


class Jobs:
    """Queued and finished jobs of this server, run by ``workers`` threads (one by default: a rerun
    already starts its own kernel, and these machines have two cores).

    For example::

        jobs = Jobs()
        job = jobs.submit("rerun", run_id, total=1, work=lambda progress: api.rerun(run_id))
        jobs.get(job["job_id"])["state"]
        'queued'
    """

    def __init__(self, workers: int = 1, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._unfinished: dict[str, tuple[Future, Cancellation]] = {}  # queued or running, by job id
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jupyter-tracker-job")

    def submit(self, kind: str, run_id: str, total: int, work: Work) -> dict[str, Any]:
        """Queue ``work`` and return the new job's state."""
        job = Job(job_id=secrets.token_hex(8), kind=kind, run_id=run_id, state="queued",
                  created=self._clock(), total=total)
        cancellation = Cancellation()
        with self._lock:  # (_run waits for it: the job is known before it starts)
            future = self._executor.submit(self._run, job, work, cancellation)
            self._unfinished[job.job_id] = (future, cancellation)
            self._jobs[job.job_id] = job
            self._forget_old()
            return job.to_dict(self._clock())

    def get(self, job_id: str) -> dict[str, Any]:
        """The job's state now; JobNotFound for an id this server never gave out (or forgot)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(job_id)
            return job.to_dict(self._clock())

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every job: queued ones never start; running ones have their kernels (and all those
        started) killed now, and end failed. Waits at most ``timeout`` s for them to end, about a
        second (nbclient notices a dead kernel once a second), rather than for their notebooks."""
        with self._lock:
            unfinished = list(self._unfinished.items())
        for _, (_, cancellation) in unfinished:
            cancellation.cancel(SHUTTING_DOWN)
        self._executor.shutdown(wait=False, cancel_futures=True)
        wait([future for _, (future, _) in unfinished], timeout=timeout)
        with self._lock:
            for job_id, (future, _) in unfinished:
                job = self._jobs.get(job_id)
                if future.cancelled() and job is not None:
                    job.state, job.error, job.ended = "failed", SHUTTING_DOWN, self._clock()
                self._unfinished.pop(job_id, None)

    def _run(self, job: Job, work: Work, cancellation: Cancellation) -> None:
        with self._lock:
            job.state, job.started = "running", self._clock()

        def progress(done: int, total: int) -> None:
            with self._lock:
                job.done, job.total = done, total

        result, error = None, None
        try:
            with cancellation.applies():  # the executions the work starts are the ones shutdown kills
                result = work(progress).to_dict()
            if cancellation.reason is not None:
                result, error = None, cancellation.reason
        except TrackerError as exc:  # the user's problem: its one-line message is the whole story
            error = str(exc)
        except Exception as exc:  # a bug: keep the server alive, log the traceback, tell the client
            log.exception("jupyter_tracker job %s (%s of %s) failed", job.job_id, job.kind, job.run_id)
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            job.result, job.error = result, error
            job.state = "failed" if error is not None else "finished"
            job.ended = self._clock()
            if error is None:
                job.done = job.total
            self._unfinished.pop(job.job_id, None)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in ("finished", "failed")]
        for job in sorted(finished, key=lambda j: j.created)[: max(0, len(self._jobs) - KEPT_JOBS)]:
            del self._jobs[job.job_id]
