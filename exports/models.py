"""Export snapshots: immutable, versioned copies of a project's labels that training reads."""
from django.db import models


class ExportSnapshot(models.Model):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="exports")
    version = models.PositiveIntegerField()
    job = models.OneToOneField("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="export")
    filters = models.JSONField(default=dict, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=500, blank=True, help_text="Directory of the finished snapshot.")
    sha256 = models.CharField(max_length=64, blank=True, help_text="Hash of the manifest's file hashes.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="export_version_once")]
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.project} export v{self.version}"
