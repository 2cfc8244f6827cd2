"""A generation job's progress moves while a batch of prompts is being decoded (a local model
finishes the whole batch at once), with an estimate of the time left."""
import re

import pytest

from annotate.services.projects import prompt_create
from jobs.services import JobContext, job_run
from training.services.generation import generation_start, run
from training.services.registry import model_register
from training.tests.test_generation import tiny_model_dir  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_progress_advances_during_decoding_with_an_eta(project, tiny_model_dir, monkeypatch):  # noqa: F811
    model = model_register(name="tiny-policy", backend="transformers", location=str(tiny_model_dir))
    for i in range(3):
        prompt_create(project=project, conversation=f"Question {i}: why is the sky blue?")
    reports = []
    original = JobContext.progress

    def record(self, fraction, message=""):
        reports.append((fraction, message))
        return original(self, fraction, message)

    monkeypatch.setattr(JobContext, "progress", record)
    monkeypatch.setattr(run, "PROGRESS_EVERY_S", 0.0)
    job = generation_start(project=project, model_versions=[model], k=2,
                           params={"max_new_tokens": 24, "temperature": 1.0, "top_p": 1.0})
    assert job_run(job_id=job.pk).status == "succeeded"
    during = [(f, m) for f, m in reports if 0 < f < 1 / 3]
    assert during, f"no progress before the first prompt was done: {reports}"
    assert all(re.fullmatch(r"0/3 prompts · writing 3 more( · about \d+ (s|min) left)?", m) for _, m in during), during
    assert any("left" in m for _, m in during)
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions), "never goes backwards"
    assert reports[-1][1].startswith("3/3 prompts")
