"""With the broker down, the pages that start a job say that the job is saved and starts once
the queue is back (the sweeper sends it), instead of a 500: generate, register a GGUF model,
start and retry a round."""
import pytest

from annotate.services.projects import prompt_create
from jobs.models import Job, JobStatus
from training.models import Round
from training.services.registry import model_register

pytestmark = pytest.mark.django_db(transaction=True)
WAITS = "is saved, but the task queue is unreachable (OperationalError): it is sent again automatically"


def _unsent(kind: str) -> Job:
    job = Job.objects.get(kind=kind)
    assert job.status == JobStatus.QUEUED and job.sent_at is None and job.queued_at is not None
    return job


def _policy_dir(tmp_path):
    """A directory the registry accepts as a transformers model (nothing loads it here)."""
    path = tmp_path / "policy"
    path.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (path / name).write_text("{}")
    return str(path)


def test_the_generate_form_says_the_job_waits_for_the_queue(client, admin_user, project, broker_down):
    prompt_create(project=project, conversation="Why is the sky blue?")
    project.sampling_models.add(model_register(name="endpoint", backend="openai", location="http://127.0.0.1:9/v1",
                                               endpoint_model="m"))
    client.force_login(admin_user)
    response = client.post("/training/generate/", {"project": project.pk, "mode": "unused", "temperature": "1.0",
                                                   "top_p": "0.95", "max_new_tokens": "32"}, follow=True)
    job = _unsent("generate")
    assert response.status_code == 200 and response.redirect_chain[-1][0].endswith(f"?job={job.pk}")
    assert f"Job {job.pk} {WAITS}" in response.content.decode()


def test_registering_a_gguf_says_its_conversion_waits_for_the_queue(client, admin_user, tmp_path, broker_down):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    client.force_login(admin_user)
    response = client.post("/training/models/", {"register": "1", "reg-name": "mine", "reg-backend": "gguf",
                                                 "reg-location": str(gguf), "reg-kind": "policy"}, follow=True)
    job = _unsent("convert_model")
    assert response.status_code == 200
    assert f"Registered mine. Job {job.pk} {WAITS}" in response.content.decode()


def test_starting_and_retrying_a_round_say_the_job_waits_for_the_queue(client, admin_user, project, tmp_path,
                                                                       broker_down):
    base = model_register(name="base", backend="transformers", location=_policy_dir(tmp_path))
    client.force_login(admin_user)
    response = client.post(f"/rounds/projects/{project.pk}/start/",
                           {"project": project.pk, "method": "dpo", "base_policy": base.pk}, follow=True)
    rnd = Round.objects.get()
    job = _unsent("export")
    assert rnd.current_job_id == job.pk and response.redirect_chain[-1][0] == f"/rounds/{rnd.pk}/"
    assert f"Job {job.pk} {WAITS}" in response.content.decode()

    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="worker lost")
    Round.objects.filter(pk=rnd.pk).update(status="failed")
    retried = client.post(f"/rounds/{rnd.pk}/retry/", follow=True)
    assert retried.status_code == 200 and f"Job {job.pk} {WAITS}" in retried.content.decode()
    assert Round.objects.get().status == "running"
    _unsent("export")
