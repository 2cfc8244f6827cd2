"""The training job path through real Celery workers: labels → export snapshot → reward model
(or SFT policy) job → a registered ModelVersion with metrics and lineage; cancel; crash-resume."""
import os
import signal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from conftest import wait_for
from exports.models import ExportSnapshot
from exports.services.snapshots import export_start
from jobs.models import Job, JobStatus
from jobs.services import jobs_sweep
from training.models import ModelKind, ModelVersion
from training.services.training_jobs import training_start


@pytest.fixture
def labelled_project(project, labeler, make_ranking_task):
    """12 ranking tasks of K=4 ranked by a labeler: the shorter answer is better."""
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.submissions import RankingInput, ranking_submit

    for i in range(12):
        make_ranking_task(k=4, texts=[f"Answer {i}" + " and more" * n for n in range(4)])
    while (assignment := task_next_for_labeler(user=labeler, project=project)) is not None:
        ids = assignment.task.candidate_ids()  # created shortest first
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[c] for c in ids]))
    return project


def _finished(job_id):
    job = Job.objects.get(pk=job_id)
    return job if job.is_finished else None


def _export(project, admin_user):
    job = export_start(project=project, options={"formats": ["ranked_groups", "preference"]}, user=admin_user)
    job = wait_for(lambda: _finished(job.pk), timeout=120, message="the export job")
    assert job.status == JobStatus.SUCCEEDED, job.error
    return ExportSnapshot.objects.get(job=job)


RM_CONFIG = {"max_steps": 6, "batch_size": 2, "max_length": 64, "logging_steps": 1, "save_steps": 2,
             "device": "cpu", "learning_rate": 1e-3}


def test_export_then_reward_model_through_celery(celery_worker, labelled_project, tiny_base, admin_user):
    celery_worker("default,exports,training")
    export = _export(labelled_project, admin_user)
    job = training_start(kind="train_reward", project=labelled_project, export=export, base_model=tiny_base,
                         config=RM_CONFIG, user=admin_user)
    job = wait_for(lambda: _finished(job.pk), timeout=240, message="the reward-model job")
    assert job.status == JobStatus.SUCCEEDED, job.error + job.log_tail
    model = ModelVersion.objects.get(produced_by_job=job)
    assert model.kind == ModelKind.REWARD and model.parent == tiny_base and model.export_snapshot == export
    assert job.result["model_version_id"] == model.pk
    assert "series" in job.metrics, (job.metrics, job.log_tail)
    assert "loss" in job.metrics["series"] and len(job.metrics["series"]["loss"]) >= 3
    assert model.metrics, "final metrics recorded on the model"
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rm = AutoModelForSequenceClassification.from_pretrained(model.location)
    tok = AutoTokenizer.from_pretrained(tiny_base.location)
    score = rm(**tok(["Hello there"], return_tensors="pt")).logits
    assert score.shape == (1, 1)


def test_training_options_are_validated(labelled_project, tiny_base, admin_user):
    snapshot = ExportSnapshot(project=labelled_project, version=99, path="/nonexistent")
    with pytest.raises(ValidationError, match="no files yet"):
        training_start(kind="train_reward", project=labelled_project, export=snapshot, base_model=tiny_base)
    snapshot.path = str(Path(tiny_base.location))
    with pytest.raises(ValidationError, match="Unknown training options: bogus"):
        training_start(kind="train_reward", project=labelled_project, export=snapshot, base_model=tiny_base,
                       config={"bogus": 1})
    with pytest.raises(ValidationError, match="set by Ranklab: output_dir"):
        training_start(kind="train_reward", project=labelled_project, export=snapshot, base_model=tiny_base,
                       config={"output_dir": "/tmp/x"})


def test_cancel_and_crash_resume_of_a_training_job(celery_worker, labelled_project, tiny_base, admin_user, settings):
    worker = celery_worker("default,exports,training")
    export = _export(labelled_project, admin_user)
    # Runs long enough that the cancel, and later the kill, always land first: the steps are capped
    # by the epochs, and in one epoch of this small project a "400-step" run once finished before
    # its cancel was seen (and a "40-step" one before the kill).
    slow = dict(RM_CONFIG, max_steps=100_000, num_epochs=10_000, save_steps=1000)

    # Cancel stops the trainer subprocess within seconds.
    job = training_start(kind="train_reward", project=labelled_project, export=export, base_model=tiny_base,
                         config=slow, user=admin_user)
    wait_for(lambda: Job.objects.get(pk=job.pk).metrics.get("series", {}).get("loss"), timeout=120,
             message="training to start")
    from jobs.services import job_cancel

    job_cancel(job=job)
    job = wait_for(lambda: _finished(job.pk), timeout=30, message="the cancel to take effect")
    assert job.status == JobStatus.CANCELLED
    assert not ModelVersion.objects.filter(produced_by_job=job).exists()

    # SIGKILL the worker after a checkpoint; the sweeper re-queues, a new worker resumes from it.
    job = training_start(kind="train_reward", project=labelled_project, export=export, base_model=tiny_base,
                         config=dict(slow, max_steps=200, save_steps=3), user=admin_user)
    wait_for(lambda: "checkpoint at step" in Job.objects.get(pk=job.pk).log_tail, timeout=120,
             message="a checkpoint")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    settings.JOB_HEARTBEAT_TIMEOUT = 2
    wait_for(lambda: jobs_sweep()["requeued"] == 1, timeout=30, message="the sweeper")
    celery_worker("training")
    job = wait_for(lambda: _finished(job.pk), timeout=240, message="the resumed job")
    assert job.status == JobStatus.SUCCEEDED, job.error + job.log_tail
    assert job.attempts == 2
    # From the metrics, not the log: 200 steps of checkpoint lines can push the start line out of the tail.
    assert job.metrics.get("resumed_from_step", 0) >= 3, job.log_tail
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert f"resumed from the checkpoint at step {job.metrics['resumed_from_step']}" in page
    assert ModelVersion.objects.filter(produced_by_job=job).count() == 1


def test_demonstrations_then_sft_policy_through_celery(celery_worker, project, labeler, tiny_base, admin_user):
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import prompt_create, task_create
    from annotate.services.submissions import DemonstrationInput, demonstration_submit

    for i in range(10):
        prompt = prompt_create(project=project, conversation=f"Name a colour, please ({i}).")
        task_create(project=project, prompt=prompt, kind="demonstration")
    while (assignment := task_next_for_labeler(user=labeler, project=project)) is not None:
        demonstration_submit(user=labeler, assignment_id=assignment.pk,
                             data=DemonstrationInput(text=f"Blue is a colour. ({assignment.task.prompt_id})"))
    celery_worker("default,exports,training")
    job = export_start(project=project, options={"formats": ["sft_messages"]}, user=admin_user)
    job = wait_for(lambda: _finished(job.pk), timeout=120, message="the export job")
    export = ExportSnapshot.objects.get(job=job)
    job = training_start(kind="train_sft", project=project, export=export, base_model=tiny_base, user=admin_user,
                         config={"max_steps": 4, "batch_size": 2, "max_length": 64, "logging_steps": 1,
                                 "device": "cpu", "learning_rate": 1e-3})
    job = wait_for(lambda: _finished(job.pk), timeout=240, message="the SFT job")
    assert job.status == JobStatus.SUCCEEDED, job.error + job.log_tail
    model = ModelVersion.objects.get(produced_by_job=job)
    assert model.kind == ModelKind.POLICY and model.parent == tiny_base and model.export_snapshot == export
    assert "loss" in job.metrics["series"]
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(model.location).config.vocab_size == 49152


def test_a_trainer_that_refuses_its_data_fails_the_job_with_the_reason(project, tiny_base, admin_user, tmp_path):
    """A snapshot with no comparisons: the trainer's own message reaches the Job."""
    from jobs.services import job_run

    export = ExportSnapshot.objects.create(project=project, version=1, path=str(tmp_path), sha256="0" * 64)
    job = training_start(kind="train_reward", project=project, export=export, base_model=tiny_base,
                         config={"max_steps": 2, "device": "cpu"}, user=admin_user)
    job = job_run(job_id=job.pk)
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("TrainerFailed: The trainer exited with code 2:")
    assert "ranked_groups" in job.error


def test_the_launcher_setting_starts_the_trainer(project, tiny_base, admin_user, tmp_path, settings):
    """RANKLAB_TRAINER_LAUNCHER puts e.g. `accelerate launch … -m` in front of the trainer."""
    import sys

    from jobs.services import job_run

    wrapper = tmp_path / "launch.sh"
    wrapper.write_text(f'#!/bin/sh\necho launched-by-wrapper >&2\nshift\nexec {sys.executable} -m "$@"\n')
    wrapper.chmod(0o755)
    settings.TRAINER_LAUNCHER = f"{wrapper} -m"
    export = ExportSnapshot.objects.create(project=project, version=1, path=str(tmp_path), sha256="0" * 64)
    job = training_start(kind="train_reward", project=project, export=export, base_model=tiny_base,
                         config={"max_steps": 2, "device": "cpu"}, user=admin_user)
    job = job_run(job_id=job.pk)
    assert f"$ {wrapper} -m training.ml.reward --config" in job.log_tail
    assert "launched-by-wrapper" in job.log_tail


@pytest.mark.process
def test_an_accelerate_launcher_trains_on_two_processes_and_registers_the_model(labelled_project, tiny_base,
                                                                                admin_user, settings):
    """RANKLAB_TRAINER_LAUNCHER set to a real `accelerate launch` (two processes, gloo on CPU)."""
    from jobs.services import job_run
    from training.tests.test_ml_reward_scale import accelerate_launch

    settings.TRAINER_LAUNCHER = " ".join(accelerate_launch(2)) + " -m"
    exported = job_run(job_id=export_start(project=labelled_project, options={"formats": ["ranked_groups"]},
                                           user=admin_user).pk)
    export = ExportSnapshot.objects.get(job=exported)
    job = training_start(kind="train_reward", project=labelled_project, export=export, base_model=tiny_base,
                         config={**RM_CONFIG, "max_steps": 3, "save_steps": 0}, user=admin_user)
    job = job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error + job.log_tail
    assert "accelerate launch --multi_gpu --num_processes 2" in job.log_tail and "processes=2" in job.log_tail
    model = ModelVersion.objects.get(produced_by_job=job)
    assert model.kind == ModelKind.REWARD and model.export_snapshot == export and model.metrics["steps"] == 3
    assert len(job.metrics["series"]["loss"]) == 3  # one process reports for both
