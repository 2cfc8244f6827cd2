"""An import's rows and the job's record that it happened commit together: a worker lost after
that commit, before the job's final status write, leaves a job that the sweeper (or a
redelivery of its message) records as succeeded, never one that imports a second time."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Ranking
from exports.services.imports import import_job, import_options_check, import_start
from jobs import registry
from jobs.models import Job, JobStatus
from jobs.services import job_retry, job_run, jobs_sweep


class WorkerDied(BaseException):
    """The process is gone: nothing after this point runs (not even job_run's outcome write)."""


def import_then_die(job, ctx):
    import_job(job, ctx)
    raise WorkerDied()


@pytest.mark.parametrize("recovery", ["sweep", "redelivery"])
@pytest.mark.django_db(transaction=True)
def test_an_import_whose_worker_died_after_its_commit_is_not_imported_twice(project, tmp_path, monkeypatch, settings,
                                                                           recovery):
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Question {i}?", "chosen": "Yes.", "rejected": "No."}) + "\n"
                            for i in range(3)))
    job = import_start(project=project, path=path, options=import_options_check(kind="preferences", fmt="trl"),
                       enqueue=False)
    spec = registry.JOB_KINDS["import"]
    monkeypatch.setitem(registry.JOB_KINDS, "import", registry.JobSpec(
        handler=f"{__name__}.import_then_die", queue=spec.queue, idempotent=spec.idempotent))
    with pytest.raises(WorkerDied):
        job_run(job_id=job.pk)
    monkeypatch.setitem(registry.JOB_KINDS, "import", spec)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.committed_at is not None and Ranking.objects.count() == 3

    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 5))
    if recovery == "sweep":
        assert jobs_sweep()["committed"] == 1
    else:  # Redis redelivers the message of a worker that died: the next run takes the stale job over
        job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.result["rankings_created"] == 3 and job.error == ""
    assert job.hooks_done_at is not None and not job.retryable
    with pytest.raises(ValueError, match="Only failed or cancelled jobs"):
        job_retry(job=job)
    assert job_run(job_id=job.pk) is None  # a late duplicate delivery finds it finished
    assert Ranking.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_cancel_that_lands_after_the_commit_does_not_undo_the_import(project, tmp_path, monkeypatch):
    from exports.services import imports

    path = tmp_path / "prompts.txt"
    path.write_text("One?\nTwo?\n")
    job = import_start(project=project, path=path, options=import_options_check(kind="prompts", fmt="txt"),
                       enqueue=False)
    original = imports.import_file

    def import_then_cancel(**kwargs):
        result = original(**kwargs)
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)  # the admin pressed Cancel just now
        return result

    monkeypatch.setattr(imports, "import_file", import_then_cancel)
    done = job_run(job_id=job.pk)
    assert done.status == JobStatus.SUCCEEDED and done.result["prompts_created"] == 2 and not done.retryable
