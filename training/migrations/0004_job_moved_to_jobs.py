# The Job model moved to the jobs app with its table (training_job): the keys that point at it
# now point at jobs.Job, then the old state goes. Nothing changes in the database but the
# content type's app label, so the admin's history and permissions follow the model.

import django.db.models.deletion
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="jobs", model="job").exists():
        ContentType.objects.filter(app_label="training", model="job").update(app_label="jobs")


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="training", model="job").exists():
        ContentType.objects.filter(app_label="jobs", model="job").update(app_label="training")


class Migration(migrations.Migration):

    dependencies = [
        ("annotate", "0005_job_moved_to_jobs"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("exports", "0003_job_moved_to_jobs"),
        ("jobs", "0001_initial"),
        ("training", "0003_job_kind_suggest"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="modelversion",
                    name="produced_by_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="models", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="current_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="export_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="reward_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="policy_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="evaluate_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="generate_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="pairwise_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="round",
                    name="prioritise_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="jobs.job"),
                ),
                migrations.DeleteModel(name="Job"),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
