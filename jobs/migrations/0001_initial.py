# The Job model moves here from the training app. Its table (training_job) stays as it is: the
# state moves, the database does not (training/migrations/0004 drops the old state).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import jobs.registry


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("annotate", "0001_initial"),
        ("training", "0003_job_kind_suggest"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Job",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(max_length=20, validators=[jobs.registry.validate_job_kind])),
                        ("params", models.JSONField(blank=True, default=dict)),
                        ("status", models.CharField(choices=[("queued", "Queued"), ("running", "Running"), ("succeeded", "Succeeded"), ("failed", "Failed"), ("cancelled", "Cancelled")], db_index=True, default="queued", max_length=10)),
                        ("progress", models.FloatField(default=0.0)),
                        ("progress_message", models.CharField(blank=True, max_length=300)),
                        ("log_tail", models.TextField(blank=True)),
                        ("metrics", models.JSONField(blank=True, default=dict, help_text="Latest values and series for plots.")),
                        ("result", models.JSONField(blank=True, default=dict)),
                        ("error", models.TextField(blank=True)),
                        ("traceback", models.TextField(blank=True)),
                        ("celery_task_id", models.CharField(blank=True, max_length=64)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("cancel_requested", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("created_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                        ("parent", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="children", to="jobs.job")),
                        ("project", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="jobs", to="annotate.project")),
                    ],
                    options={
                        "db_table": "training_job",
                        "ordering": ["-created_at"],
                        "constraints": [models.CheckConstraint(condition=models.Q(("progress__gte", 0), ("progress__lte", 1)), name="job_progress_0_1")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
