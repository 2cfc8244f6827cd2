"""The demo `make run` seeds: a labeler starts on a ranking task, and the demonstration tasks
start from one of the model's answers (a suggestion). The bundled SmolLM2 is stood in for by a
tiny random model, and the generation job runs in-process."""
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotate.models import Task, TaskKind
from annotate.services.assignments import assignment_skip, task_next_for_labeler
from jobs.models import Job
from jobs.services import job_run
from training.services.registry import model_register
from training.tests.test_generation import tiny_model_dir  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_starts_a_labeler_on_ranking_with_suggestions_for_demonstrations(monkeypatch, settings, tmp_path,
                                                                              tiny_model_dir):  # noqa: F811
    settings.DATA_DIR = tmp_path
    tiny = model_register(name="tiny-smol", backend="transformers", location=str(tiny_model_dir))
    monkeypatch.setattr("training.services.registry.bundled_model_ensure", lambda convert=True: tiny)
    call_command("seed_demo")
    job = Job.objects.get(kind="generate")
    job.params = {**job.params, "max_new_tokens": 8}  # a tiny model writes nonsense at any length
    job.save(update_fields=["params"])
    assert job_run(job_id=job.pk).status == "succeeded"

    project = job.project
    demos = Task.objects.filter(project=project, kind=TaskKind.DEMONSTRATION)
    assert demos.count() == 12
    assert all(len(t.candidate_ids()) == 1 for t in demos), "every demonstration task carries a model suggestion"
    labeler = get_user_model().objects.get(username="labeler1")
    kinds = []
    for _ in range(3):
        assignment = task_next_for_labeler(user=labeler, project=project)
        kinds.append(assignment.task.kind)
        assignment_skip(user=labeler, assignment_id=assignment.pk, reason="looking at the order")
    assert kinds == [TaskKind.RANKING] * 3
