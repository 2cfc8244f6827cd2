"""A project's lease lasts a minute to a week (a check constraint; a huge value overflowed the
lease's expiry time); rows outside that range are brought to the nearest bound first. A project
may offer no flags (flags blank=True, nothing changes in the database)."""
import annotate.models
from django.db import migrations, models


def clamp(apps, schema_editor):
    Project = apps.get_model("annotate", "Project")
    Project.objects.filter(lease_seconds__lt=60).update(lease_seconds=60)
    Project.objects.filter(lease_seconds__gt=7 * 24 * 3600).update(lease_seconds=7 * 24 * 3600)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0006_drop_lease_gate"),
    ]

    operations = [
        migrations.RunPython(clamp, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="project",
            name="flags",
            field=models.JSONField(blank=True, default=annotate.models.default_flags),
        ),
        migrations.AddConstraint(
            model_name="project",
            constraint=models.CheckConstraint(
                condition=models.Q(("lease_seconds__gte", 60), ("lease_seconds__lte", 604800)),
                name="project_lease_a_minute_to_a_week",
            ),
        ),
    ]
