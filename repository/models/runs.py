from django.db import models


class SweepRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SweepRun(models.Model):
    """One renewal sweep (repository.renewal_sweep), for the Jobs page: what it queued, or why it failed.

    The sweep's liveness stays the ``renewal-sweep`` heartbeat (sweep_watch.py); these rows are the history,
    pruned by the sweep itself (repository/acme/sweep_runs.py)."""

    status = models.CharField(max_length=8, choices=SweepRunStatus.choices, default=SweepRunStatus.RUNNING)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["started_at"], name="sweeprun_started")]

    def __str__(self) -> str:
        return f"renewal sweep #{self.pk} ({self.status})"
