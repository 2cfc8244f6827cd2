"""The Job model's move from training to jobs keeps the rows of a database migrated before it,
on SQLite and on PostgreSQL: the table stays, the keys that point at it keep their values."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("jobs", None)]  # unapplies the move and only what depends on it
AFTER = [("training", "0004_job_moved_to_jobs"), ("jobs", "0001_initial")]


@pytest.mark.django_db(transaction=True)
def test_rows_of_a_database_migrated_before_the_move_survive_it():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    old = executor.loader.project_state([key for key in executor.loader.applied_migrations
                                         if key in executor.loader.graph.nodes]).apps
    project = old.get_model("annotate", "Project").objects.create(name="before the move", k=2)
    OldJob = old.get_model("training", "Job")
    parent = OldJob.objects.create(kind="noop", project=project, status="succeeded")
    child = OldJob.objects.create(kind="export", project=project, parent=parent)
    old.get_model("exports", "ExportSnapshot").objects.create(project=project, version=1, job=child)

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Job = new.get_model("jobs", "Job")
    assert Job._meta.db_table == "training_job"
    moved = Job.objects.get(pk=child.pk)
    assert moved.parent_id == parent.pk and moved.project_id == project.pk and moved.kind == "export"
    assert new.get_model("exports", "ExportSnapshot").objects.get().job_id == child.pk

    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())  # leave the test DB as found
