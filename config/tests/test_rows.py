"""config.rows: single-row SQL helpers must behave like the ORM on both databases."""
import datetime as dt

import pytest
from django.utils import timezone

from annotate.models import Assignment, Project, Ranking, Task
from config.rows import row_insert, row_objects, row_update, sql_rows

pytestmark = pytest.mark.django_db


def test_insert_update_and_read_back_like_the_orm(labeler, project, make_ranking_task):
    task = make_ranking_task(k=2)
    now = timezone.now()
    assignment = row_insert(Assignment(task=task, labeler=labeler, project=project, leased_at=now,
                                       expires_at=now + dt.timedelta(minutes=5), shown_order=[2, 1]))
    assert assignment.pk and not assignment._state.adding
    stored = Assignment.objects.get(pk=assignment.pk)
    assert (stored.state, stored.shown_order, stored.leased_at, stored.skip_reason) == ("active", [2, 1], now, "")

    ranking = row_insert(Ranking(task=task, assignment=assignment, labeler=labeler, tiers=[[2], [1]],
                                 ratings={"2": 7}, flags={"1": ["harmful"]}))
    stored = Ranking.objects.get(pk=ranking.pk)
    assert stored.created_at is not None and stored.created_at == ranking.created_at  # auto_now_add ran
    assert (stored.tiers, stored.ratings, stored.flags, stored.review_status) == ([[2], [1]], {"2": 7},
                                                                                  {"1": ["harmful"]}, "pending")

    assignment.state, assignment.finished_at = "submitted", now
    row_update(assignment, ["state", "finished_at"])
    stored = Assignment.objects.get(pk=assignment.pk)
    assert (stored.state, stored.finished_at, stored.shown_order) == ("submitted", now, [2, 1])

    [read] = row_objects(Assignment, "SELECT * FROM annotate_assignment WHERE id = %s", [assignment.pk])
    assert (read.pk, read.state, read.shown_order, read.finished_at, read.task_id) == (
        assignment.pk, "submitted", [2, 1], now, task.pk)
    assert read.finished_at.tzinfo is not None  # aware, as the ORM returns it on SQLite too
    [proj] = row_objects(Project, "SELECT p.*, 41 + 1 AS answer FROM annotate_project p WHERE p.id = %s",
                         [project.pk])
    assert proj.rating_scale == Project.objects.get(pk=project.pk).rating_scale and proj.answer == 42
    [partial] = row_objects(Task, "SELECT id, kind FROM annotate_task WHERE id = %s", [task.pk])
    assert partial.kind == "ranking" and partial.get_deferred_fields() and partial.state == task.state
    assert sql_rows("SELECT COUNT(*) FROM annotate_ranking WHERE task_id = %s", [task.pk]) == [(1,)]


def test_a_joined_row_loads_the_related_object(labeler, project, make_ranking_task):
    from config.rows import joined_columns

    task = make_ranking_task(k=2)
    [read] = row_objects(Task, f"SELECT t.*, {joined_columns(Project, 'p', 'project')}, 7 AS seven"
                               " FROM annotate_task t JOIN annotate_project p ON p.id = t.project_id WHERE t.id = %s",
                         [task.pk], joined={"project": Project})
    orm = Task.objects.select_related("project").get(pk=task.pk)
    assert Task.project.is_cached(read) and read.seven == 7
    assert [getattr(read, f.attname) for f in Task._meta.concrete_fields] == [
        getattr(orm, f.attname) for f in Task._meta.concrete_fields]
    assert [getattr(read.project, f.attname) for f in Project._meta.concrete_fields] == [
        getattr(orm.project, f.attname) for f in Project._meta.concrete_fields]
    assert not hasattr(read, "project__name")  # the joined columns are not extras of the task


def test_two_rows_updated_in_one_call(labeler, project, make_ranking_task):
    task = make_ranking_task(k=2)
    now = timezone.now()
    assignment = row_insert(Assignment(task=task, labeler=labeler, project=project, leased_at=now,
                                       expires_at=now + dt.timedelta(minutes=5), shown_order=[1, 2]))
    assignment.state, assignment.finished_at = "submitted", now
    task.submissions_count, task.state = 5, "complete"
    row_update(assignment, ["state", "finished_at"], (task, ["submissions_count", "state"]), (project, []))
    stored_a, stored_t = Assignment.objects.get(pk=assignment.pk), Task.objects.get(pk=task.pk)
    assert (stored_a.state, stored_a.finished_at) == ("submitted", now)
    assert (stored_t.submissions_count, stored_t.state) == (5, "complete")
