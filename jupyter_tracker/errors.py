"""The one error hierarchy of jupyter_tracker.

Each class carries the exit code the CLI uses and the HTTP status the server uses, so
translating an error is a lookup in exactly three places: the click group, the magics
and the server's base handler. Messages always name the offending input.
"""


class TrackerError(Exception):
    """Base class: a problem the user can act on, reported as one line."""

    exit_code = 1
    http_status = 500


class UsageProblem(TrackerError):
    """Malformed input: a bad option, parameter or value."""

    exit_code = 2
    http_status = 400


class RunNotFound(TrackerError):
    """No run id starts with the given prefix."""

    exit_code = 3
    http_status = 404

    def __init__(self, prefix: str):
        super().__init__(f"no run matches '{prefix}'")
        self.prefix = prefix


class AmbiguousRunId(TrackerError):
    """A prefix matches several runs; the message lists (some of) them."""

    exit_code = 3
    http_status = 400

    def __init__(self, prefix: str, candidates: list[str]):
        shown = ", ".join(c[:12] for c in candidates[:5])
        more = "" if len(candidates) <= 5 else f" and {len(candidates) - 5} more"
        super().__init__(f"run id prefix '{prefix}' is ambiguous: {shown}{more}")
        self.prefix = prefix
        self.candidates = candidates


class StoreError(TrackerError):
    """The store file cannot be used: corrupt, not ours, newer schema, missing."""

    exit_code = 4
    http_status = 500


class NoActiveRun(TrackerError):
    """log_* was called outside a tracked cell or start_run block."""

    exit_code = 2
    http_status = 400

    def __init__(self, what: str):
        super().__init__(
            f"{what}() needs an active run: call it inside a %%track cell or a start_run() block"
        )


class ArtifactNotFound(TrackerError):
    """A run has no artifact (model, figure or file) of the given name, or its file is gone."""

    exit_code = 3
    http_status = 404


class StageNotFound(TrackerError):
    """Nothing is promoted to the given stage of a model (an unknown stage, or no baseline yet)."""

    exit_code = 3
    http_status = 404

    def __init__(self, name: str, stage: str, stages_in_use: list[str]):
        if stages_in_use:
            message = (f"no model '{name}' in stage '{stage}' "
                       f"(stages in use for '{name}': {', '.join(stages_in_use)})")
        else:
            message = (f"nothing has been promoted to '{stage}' for model '{name}' yet: "
                       f"promote a run first, or give a run id as the baseline")
        super().__init__(message)
        self.name, self.stage, self.stages_in_use = name, stage, stages_in_use


class NothingToRollBack(TrackerError):
    """A stage holds its first promoted version: there is no earlier one to go back to."""

    exit_code = 1
    http_status = 409

    def __init__(self, name: str, stage: str, holder: str):
        super().__init__(
            f"model '{name}' in stage '{stage}' has no earlier version to roll back to "
            f"(it holds {holder[:8]}, the first version promoted there)"
        )


class ValidationFailed(TrackerError):
    """promote refused a run that fails validation against the current holder of the stage."""

    exit_code = 1
    http_status = 409

    def __init__(self, run_id: str, baseline: str, failures: list[str], result: object = None):
        shown = "; ".join(failures[:4]) + (f"; and {len(failures) - 4} more" if len(failures) > 4 else "")
        super().__init__(
            f"run {run_id[:8]} fails validation against {baseline}: {shown}; "
            f"pass force=True (--force) to promote it anyway"
        )
        self.run_id, self.failures, self.result = run_id, failures, result


class JobNotFound(TrackerError):
    """No background job (a rerun started from JupyterLab) has the given id in this server."""

    exit_code = 3
    http_status = 404

    def __init__(self, job_id: str):
        super().__init__(f"no job '{job_id}' in this server (jobs are kept until the server restarts)")
        self.job_id = job_id


class PushError(TrackerError):
    """``push`` could not copy runs to an MLflow tracking server: unreachable, refusing, or failing.

    ``server_status`` is the HTTP status the server answered with (401, 403, 500, ...), None when
    no answer came. Nothing is ever written to the local store; what reached the server is kept
    and a second push resumes from it.
    """

    exit_code = 5
    http_status = 502

    def __init__(self, message: str, server_status: int | None = None):
        super().__init__(message)
        self.server_status = server_status


def positive_int(name: str, value: object, of: str = "") -> int:
    """``value`` when it is a whole number of at least 1, else a UsageProblem naming ``name``.

    >>> positive_int("repeat", 0, of="executions")
    Traceback (most recent call last):
    ...
    jupyter_tracker.errors.UsageProblem: repeat must be a positive number of executions, not 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageProblem(f"{name} must be a positive number{f' of {of}' if of else ''}, not {value!r}")
    return value
