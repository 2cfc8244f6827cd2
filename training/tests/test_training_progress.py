"""A training job says what it is doing within seconds and all along: the trainer's sub-steps
(loading the model, encoding N pairs, step i of n with an ETA, saving), never a fixed
"preparing" (training/services/progress.py, the runner, the trainers' phase events)."""
import time

import pytest

from jobs.services import JobContext, job_run
from training.services.progress import FINISHING, STARTING, TrainerNarrator, duration
from training.services.training_jobs import training_start
from training.tests.test_training_jobs import labelled_project  # noqa: F401 (fixture)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_narrator_tells_the_sub_step_then_step_i_of_n_with_an_eta():
    clock = Clock()
    narrator = TrainerNarrator(clock)
    clock.now += 4
    assert narrator.message() == f"{STARTING} (4 s)"
    narrator.event({"event": "phase", "message": "encoding 480 sequences"})
    clock.now += 2
    assert narrator.message() == "encoding 480 sequences (2 s)"
    narrator.event({"event": "start", "total_steps": 30})
    assert narrator.message() == "training: step 0 of 30"
    clock.now += 30
    narrator.event({"event": "log", "step": 3, "progress": 0.1})
    assert narrator.message() == "training: step 3 of 30, about 4 min 30 s left"
    narrator.event({"event": "phase", "message": "evaluating on 64 prompts"})
    assert narrator.message() == "evaluating on 64 prompts (0 s)"
    narrator.event({"event": "log", "step": 30, "progress": 1.0})
    assert narrator.message() == f"{FINISHING} (step 30 of 30 done)"


def test_without_a_start_event_the_total_comes_from_progress_and_the_rate_from_the_first_step():
    clock = Clock()
    narrator = TrainerNarrator(clock)
    narrator.event({"event": "log", "step": 1, "progress": 0.25})
    assert narrator.message() == "training: step 1 of 4"
    clock.now += 10
    narrator.event({"event": "log", "step": 2, "progress": 0.5})
    assert narrator.message() == "training: step 2 of 4, about 20 s left"
    assert duration(3 * 3600 + 120) == "3 h 02 min"


@pytest.mark.django_db(transaction=True)
def test_a_dpo_job_on_a_tiny_model_reports_each_sub_step(labelled_project, tiny_base, admin_user,  # noqa: F811
                                                         monkeypatch):
    from exports.models import ExportSnapshot
    from exports.services.snapshots import export_start

    export_job = export_start(project=labelled_project, options={"formats": ["ranked_groups", "preference"]},
                              user=admin_user)
    job_run(job_id=export_job.pk)
    export = ExportSnapshot.objects.get(job=export_job)
    seen = []
    real = JobContext.progress

    def spy(self, fraction, message=""):
        seen.append((time.monotonic(), fraction, message))
        return real(self, fraction, message)

    monkeypatch.setattr(JobContext, "progress", spy)
    job = training_start(kind="train_policy", method="dpo", project=labelled_project, export=export,
                         base_model=tiny_base, user=admin_user,
                         config={"max_steps": 3, "batch_size": 4, "max_length": 64, "learning_rate": 1e-3})
    started = time.monotonic()
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    messages = [m for _, _, m in seen]
    assert seen[0][0] - started < 30 and "preparing" not in " ".join(messages)
    # the message shows the latest sub-step each second (a short one may be passed over); the log keeps each
    log = job.log_tail
    for expected in ("loading the model", "encoding ", "reference log-probabilities", "saving the model"):
        assert expected in log, (expected, log)
    assert any(m.startswith(("training: step ", "evaluating and saving")) for m in messages), messages
    assert [step for step, _ in job.metrics["series"]["loss"]][-1] == 3, job.metrics["series"]
    # between two messages never more than the runner's write interval plus one step of a tiny model
    gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:], strict=False)]
    assert max(gaps) < 30, gaps
    fractions = [f for _, f, _ in seen]
    assert fractions == sorted(fractions)


@pytest.mark.django_db(transaction=True)
def test_a_reward_job_counts_every_step(labelled_project, tiny_base, admin_user, monkeypatch):  # noqa: F811
    from exports.models import ExportSnapshot
    from exports.services.snapshots import export_start

    export_job = export_start(project=labelled_project, options={"formats": ["ranked_groups"], "test_ratio": 0.2},
                              user=admin_user)
    job_run(job_id=export_job.pk)
    seen = []
    real = JobContext.progress
    monkeypatch.setattr(JobContext, "progress", lambda self, f, m="": (seen.append(m), real(self, f, m))[1])
    job = training_start(kind="train_reward", project=labelled_project, export=ExportSnapshot.objects.get(job=export_job),
                         base_model=tiny_base, user=admin_user,
                         config={"max_steps": 3, "batch_size": 2, "max_length": 64, "device": "cpu"})
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert any(m.startswith(STARTING) for m in seen) and "preparing" not in " ".join(seen)
    # logging_steps defaults to 1 on the job path: every step is an event (the message shows the latest each second)
    assert [p[0] for p in job.metrics["series"]["loss"]] == [1, 2, 3]
    assert any(m.startswith("training: step ") and m.endswith(" of 3") or m.startswith(FINISHING) for m in seen), seen
    assert job.params["config"] == {"max_steps": 3, "batch_size": 2, "max_length": 64, "device": "cpu"}
