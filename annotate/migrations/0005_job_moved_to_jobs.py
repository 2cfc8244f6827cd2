# The Job model moved to the jobs app with its table: only the state of these keys changes.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("annotate", "0004_lease_gate"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="candidate",
                    name="generation_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="candidates", to="jobs.job"),
                ),
                migrations.AlterField(
                    model_name="task",
                    name="generation_job",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="tasks", to="jobs.job"),
                ),
            ],
            database_operations=[],
        ),
    ]
