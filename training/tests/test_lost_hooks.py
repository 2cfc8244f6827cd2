"""A worker lost between a round step's final write and its finished-hooks (the round's advance)
no longer leaves the round "running" for ever: the sweeper runs the hooks it missed."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from exports.services.imports import import_file, import_options_check
from jobs.models import Job, JobStatus
from jobs.services import job_run, jobs_sweep
from training.models import Round
from training.services.registry import model_register
from training.services.rounds import round_start


class WorkerDied(BaseException):
    pass


@pytest.mark.django_db
def test_a_round_whose_step_lost_its_hooks_moves_on_at_the_next_sweep(project, tmp_path, settings, monkeypatch):
    from jobs.services import run

    settings.EXPORTS_DIR = tmp_path / "exports"
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text("".join(json.dumps({"prompt": f"Question {i}?", "chosen": "Yes.", "rejected": "No."}) + "\n"
                             for i in range(6)))
    import_file(project=project, path=prefs, options=import_options_check(kind="preferences", fmt="trl"))
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (base_dir / name).write_text("{}")
    rnd = round_start(project=project, method="dpo", base_policy=model_register(
        name="base", backend="transformers", location=str(base_dir)))
    export_job = rnd.current_job

    def die(job):
        raise WorkerDied()

    monkeypatch.setattr(run, "run_finished_hooks", die)
    with pytest.raises(WorkerDied):
        job_run(job_id=export_job.pk)
    monkeypatch.undo()
    rnd.refresh_from_db()
    assert Job.objects.get(pk=export_job.pk).status == JobStatus.SUCCEEDED
    assert rnd.status == "running" and rnd.step == "export" and rnd.current_job_id == export_job.pk  # stuck

    Job.objects.filter(pk=export_job.pk).update(
        finished_at=timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT + 1))
    assert jobs_sweep()["hooks"] == 1
    rnd = Round.objects.get(pk=rnd.pk)
    assert rnd.status == "running" and rnd.step == "reward", rnd.error
    assert rnd.export.job_id == export_job.pk and rnd.current_job.kind == "train_reward"
