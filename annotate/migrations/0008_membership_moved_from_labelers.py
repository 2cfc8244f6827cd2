# Membership moves here from the labelers app, so the lease path (this app) reads it without
# importing a layer above. Its table (labelers_membership) stays as it is: only the state moves
# (labelers/migrations/0004 drops the old state), and its content type follows it.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_follows(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="annotate", model="membership").exists():
        ContentType.objects.filter(app_label="labelers", model="membership").update(app_label="annotate")


def content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="labelers", model="membership").exists():
        ContentType.objects.filter(app_label="annotate", model="membership").update(app_label="labelers")


class Migration(migrations.Migration):

    dependencies = [
        ("annotate", "0007_project_lease_bounds"),
        ("labelers", "0003_drop_drf_authtoken"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Membership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("role", models.CharField(choices=[("admin", "Admin"), ("reviewer", "Reviewer"), ("labeler", "Labeler")], default="labeler", max_length=10)),
                        ("is_paused", models.BooleanField(default=False, help_text="Paused labelers get no new work.")),
                        ("paused_reason", models.TextField(blank=True)),
                        ("qualification_status", models.CharField(choices=[("not_started", "Not started"), ("passed", "Passed"), ("failed", "Failed")], default="not_started", max_length=12)),
                        ("qualification_score", models.FloatField(blank=True, null=True)),
                        ("qualified_at", models.DateTimeField(blank=True, null=True)),
                        ("quality_since", models.DateTimeField(blank=True, help_text="Pause checks count only results after this (set when an admin resumes).", null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("project", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="annotate.project")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "labelers_membership",
                        "constraints": [models.UniqueConstraint(fields=("project", "user"), name="membership_once")],
                    },
                ),
                migrations.AlterField(
                    model_name="project",
                    name="members",
                    field=models.ManyToManyField(related_name="projects", through="annotate.Membership", to=settings.AUTH_USER_MODEL),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_follows, content_type_back),
    ]
