from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Assignment, AssignmentState
from annotate.services.assignments import task_next_for_labeler
from annotate.tasks import expire_leases
from config.celery_app import app

pytestmark = pytest.mark.django_db


def test_beat_expires_leases_nobody_asked_about(labeler, project, make_ranking_task):
    task = make_ranking_task(k=2)
    assignment = task_next_for_labeler(user=labeler, project=project)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_leases() == 1
    assert Assignment.objects.get(pk=assignment.pk).state == AssignmentState.EXPIRED
    task.refresh_from_db()
    assert task.active_leases == 0


def test_beat_schedule_has_both_sweepers():
    app.loader.import_default_modules()
    app.finalize()
    names = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"jobs.tasks.sweep_jobs", "annotate.tasks.expire_leases"} <= names
