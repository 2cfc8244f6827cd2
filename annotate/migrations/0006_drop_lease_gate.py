"""PostgreSQL: drop the function annotate_lease_gate (migration 0004). The lease rules live in one
place again, annotate/services/assignments.py, written with the ORM. Nothing on SQLite."""
from importlib import import_module

from django.db import migrations

gate = import_module("annotate.migrations.0004_lease_gate")


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0005_job_moved_to_jobs"),
    ]

    # Backwards re-creates it, so the code of 0004's time runs on a database migrated back.
    operations = [migrations.RunPython(gate.drop, gate.create)]
