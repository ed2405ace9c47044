"""What a push did, or (dry run) would do, to each run: the records both sides of the push share."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..render import count

# What a run became on the server (RunPush.action).
PUSHED, RESUMED, PRESENT, RUNNING = "pushed", "resumed", "present", "running"


@dataclass
class RunPush:
    """What one run became on the server, or (dry run) would become."""

    run_id: str
    name: str
    experiment: str
    action: str  # "pushed" (new), "resumed" (completed an interrupted push), "present" (nothing to send),
    #              "running" (skipped: push it when it ends)
    mlflow_run_id: str | None = None
    params: int = 0  # sent (or to send)
    tags: int = 0
    metrics: int = 0  # metric names with points sent
    points: int = 0  # metric points sent
    points_there: int = 0  # points the server already had (a resumed run)
    artifacts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.run_id[:8]

    def line(self, dry_run: bool) -> str:
        who = f"{self.short_id} {self.name} ({self.experiment})"
        if self.action == RUNNING:
            return f"skipped {who}: still running; push it when it ends"
        if self.action == PRESENT:
            return f"already there {who}" + (f" as MLflow run {self.mlflow_run_id}" if self.mlflow_run_id else "")
        verb = {PUSHED: "push", RESUMED: "resume"}[self.action]
        verb = f"would {verb}" if dry_run else {PUSHED: "pushed", RESUMED: "resumed"}[self.action]
        points = f"{self.points:,} points" + (f", {self.points_there:,} there already" if self.points_there else "")
        text = (f"{verb} {who}: {count(self.params, 'param')}, {count(self.tags, 'tag')}, "
                f"{count(self.metrics, 'metric')} ({points}), {count(self.artifacts, 'artifact')}")
        return text + "".join(f"; {note}" for note in self.notes)

