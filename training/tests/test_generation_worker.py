"""Generation through a real Celery worker (Redis when REDIS_URL is set, else the embedded
filesystem broker) with a tiny random model and the bundled tokenizer: the acceptance run,
cancel within seconds, and a worker killed mid-job whose job resumes without duplicates."""
import os
import signal
import time
from collections import Counter

import pytest

from annotate.models import Candidate, Task, TaskKind
from annotate.services.projects import prompt_create
from conftest import wait_for
from jobs.models import Job, JobStatus
from jobs.services import job_cancel, jobs_sweep
from training.services.generation import generation_start
from training.services.registry import model_register
from training.tests.test_generation import tiny_model_dir  # noqa: F401 (fixture)

WORKER_ENV = {"OMP_NUM_THREADS": "1", "RANKLAB_GENERATION_CACHE_MB": "512"}
SLOW = {"max_new_tokens": 48, "temperature": 1.0, "top_p": 1.0, "chunk_prompts": 1}


@pytest.fixture
def tiny_model(tiny_model_dir):  # noqa: F811
    return model_register(name="tiny-policy", backend="transformers", location=str(tiny_model_dir))


def _status(job_id):
    return Job.objects.get(pk=job_id).status


def _consistent(project, job_id, k):
    """Every ranking task has K candidates from the job; no candidate is left outside a task."""
    tasks = Task.objects.filter(project=project, kind=TaskKind.RANKING, generation_job_id=job_id)
    for task in tasks:
        assert len(task.candidate_ids()) == k
    in_tasks = {cid for t in tasks for cid in t.candidate_ids()}
    assert set(Candidate.objects.filter(generation_job_id=job_id).values_list("pk", flat=True)) == in_tasks
    per_prompt = Counter(tasks.values_list("prompt_id", flat=True))
    assert all(n == 1 for n in per_prompt.values()), per_prompt
    return tasks.count()


def test_generation_job_runs_in_a_real_worker_and_rerunning_adds_nothing(project, tiny_model, celery_worker):
    celery_worker("generation", extra_env=WORKER_ENV)
    prompts = [prompt_create(project=project, conversation=f"Explain idea {i} simply.") for i in range(4)]
    params = {"max_new_tokens": 8, "temperature": 0.9, "top_p": 0.95, "seed": 1234}
    job = generation_start(project=project, model_versions=[tiny_model], k=4, params=params)
    wait_for(lambda: _status(job.pk) in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=120,
             message="the worker to generate")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert _consistent(project, job.pk, 4) == 4
    cand = Candidate.objects.filter(generation_job=job).first()
    assert cand.model_version_id == tiny_model.pk and cand.seed is not None
    assert {k: cand.sampling_params[k] for k in ("temperature", "top_p", "max_new_tokens")} == \
        {"temperature": 0.9, "top_p": 0.95, "max_new_tokens": 8}
    assert job.metrics["tokens_per_s"] > 0

    again = generation_start(project=project, model_versions=[tiny_model], k=4, prompts=prompts, params=params)
    wait_for(lambda: _status(again.pk) == JobStatus.SUCCEEDED, timeout=60, message="the re-run")
    again.refresh_from_db()
    assert again.result["created_tasks"] == 0 and again.result["already_done"] == 4
    assert Task.objects.count() == 4 and Candidate.objects.count() == 16


def test_cancel_stops_a_running_job_within_seconds(project, tiny_model, celery_worker):
    celery_worker("generation", extra_env=WORKER_ENV)
    for i in range(40):
        prompt_create(project=project, conversation=f"Write a long story about topic {i}.")
    job = generation_start(project=project, model_versions=[tiny_model], k=3, params=SLOW)
    wait_for(lambda: Task.objects.filter(generation_job=job).count() >= 1, timeout=90, message="a first task")
    asked = time.monotonic()
    job_cancel(job=job)
    wait_for(lambda: _status(job.pk) == JobStatus.CANCELLED, timeout=30, message="the job to stop")
    assert time.monotonic() - asked < 10
    made = _consistent(project, job.pk, 3)
    assert 1 <= made < 40
    job.refresh_from_db()
    assert "cancelled after" in job.log_tail and "their tasks are kept" in job.log_tail


def test_worker_killed_mid_job_resumes_without_duplicates(project, tiny_model, celery_worker, settings):
    worker = celery_worker("generation", extra_env=WORKER_ENV)
    for i in range(12):
        prompt_create(project=project, conversation=f"Describe city number {i}.")
    job = generation_start(project=project, model_versions=[tiny_model], k=3, params=SLOW)
    wait_for(lambda: Task.objects.filter(generation_job=job).count() >= 2, timeout=90, message="some tasks")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    before = Task.objects.filter(generation_job=job).count()
    assert _status(job.pk) == JobStatus.RUNNING and before < 12

    settings.JOB_HEARTBEAT_TIMEOUT = 2
    wait_for(lambda: jobs_sweep()["requeued"] == 1, timeout=30, message="the sweeper to requeue the job")
    celery_worker("generation", extra_env=WORKER_ENV)
    wait_for(lambda: _status(job.pk) == JobStatus.SUCCEEDED, timeout=180, message="a new worker to finish")
    job.refresh_from_db()
    assert job.attempts == 2 and job.result["already_done"] >= before
    assert _consistent(project, job.pk, 3) == 12
