"""The jobs page: admins only, live partials, plots from metric series, cancel and retry."""
import pytest

from jobs.models import Job, JobStatus
from jobs.services import job_create, job_run

pytestmark = pytest.mark.django_db


def test_labelers_cannot_see_jobs(client, labeler):
    client.force_login(labeler)
    assert client.get("/jobs/").status_code == 403


def test_list_shows_progress_and_polls_only_running_jobs(client, admin_user):
    done = job_run(job_id=job_create(kind="noop", enqueue=False).pk)
    running = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING, progress=0.42, progress_message="step 2 of 5")
    client.force_login(admin_user)
    page = client.get("/jobs/").content.decode()
    assert 'value="0.420000"' in page and "step 2 of 5" in page
    assert page.count('hx-trigger="every 2s"') == 1
    assert f"/jobs/{running.pk}/row/" in page and f"/jobs/{done.pk}/row/" not in page
    row = client.get(f"/jobs/{running.pk}/row/").content.decode()
    assert row.strip().startswith(f'<tr id="job-{running.pk}"')


def test_detail_plots_metric_series_with_labeler_agreement(client, admin_user):
    job = job_create(kind="noop", enqueue=False)
    Job.objects.filter(pk=job.pk).update(metrics={
        "series": {"loss": [[1, 0.7], [2, 0.6], [3, 0.5]], "eval_accuracy": [[3, 0.64]]},
        "latest": {"loss": 0.5}, "labeler_agreement": 0.726,
    }, log_tail="<script>alert(1)</script> step 3")
    client.force_login(admin_user)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert page.count("<svg") == 2 and "<polyline" in page
    assert "labeler agreement (0.726)" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; step 3" in page


def test_cancel_and_retry_buttons(client, admin_user):
    client.force_login(admin_user)
    job = job_create(kind="noop", enqueue=False)
    assert 'aria-label="Cancel job' in client.get(f"/jobs/{job.pk}/").content.decode()
    client.post(f"/jobs/{job.pk}/cancel/")
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'aria-label="Retry job' in page
    client.post(f"/jobs/{job.pk}/retry/")
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    assert client.get(f"/jobs/{job.pk}/cancel/").status_code == 405
