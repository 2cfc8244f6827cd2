"""The model registry: registering by directory, GGUF and endpoint; lineage; which models a
project samples from; the API, the admin pages and `manage.py models`; the API key kept out
of every response."""
import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from rest_framework.test import APIClient

from annotate.services.projects import prompt_create
from jobs.models import Job
from labelers.services import membership_set
from training.ml.bundled import gguf_path
from training.models import ModelVersion
from training.services.registry import model_lineage, model_register, model_register_gguf, project_sampling_models_set
from training.tests.test_generation import tiny_model_dir  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
KEY = "sk-registry-SECRET-777"


@pytest.fixture
def admin_api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def endpoint():
    return model_register(name="hosted", backend="openai", location="https://user:pw@api.example.com/v1",
                          endpoint_model="gpt-x", api_key=KEY)


def test_register_checks_what_it_is_given(tmp_path, tiny_model_dir):  # noqa: F811
    model = model_register(name="tiny", backend="transformers", location=str(tiny_model_dir))
    assert model.backend == "transformers" and model.kind == "policy"
    with pytest.raises(ValidationError, match="A model named 'tiny' is already registered"):
        model_register(name="tiny", backend="transformers", location=str(tiny_model_dir))
    with pytest.raises(ValidationError, match="does not exist on the server"):
        model_register(name="x", backend="transformers", location=str(tmp_path / "nope"))
    with pytest.raises(ValidationError, match=r"not a transformers model directory \(no config.json\)"):
        model_register(name="x", backend="transformers", location=str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValidationError, match="holds no tokenizer"):
        model_register(name="x", backend="transformers", location=str(tmp_path))
    with pytest.raises(ValidationError, match="needs a base URL"):
        model_register(name="x", backend="openai", location="api.example.com", endpoint_model="m")
    with pytest.raises(ValidationError, match="Name the model served at the endpoint"):
        model_register(name="x", backend="openai", location="http://127.0.0.1:1/v1")
    with pytest.raises(ValidationError, match="is not a .gguf file"):
        model_register(name="x", backend="gguf", location=str(tiny_model_dir))
    with pytest.raises(ValidationError, match="is a policy model, not a reward model"):
        model_register(name="rm", backend="transformers", location=str(tiny_model_dir), kind="reward", parent=model)


def test_gguf_registration_queues_one_conversion(settings):
    model = model_register_gguf(name="Smol copy", path=str(gguf_path()))
    assert model.config["converted"] is False
    assert model.config["converted_dir"].startswith(str(settings.MODELS_DIR))
    job = Job.objects.get(kind="convert_model")
    assert job.params == {"model_version_id": model.pk}


def test_lineage_follows_parents_both_ways(tiny_model_dir):  # noqa: F811
    base = model_register(name="base", backend="transformers", location=str(tiny_model_dir))
    sft = model_register(name="sft-1", backend="transformers", location=str(tiny_model_dir), parent=base)
    dpo = model_register(name="dpo-1", backend="transformers", location=str(tiny_model_dir), parent=sft)
    ppo = model_register(name="ppo-1", backend="transformers", location=str(tiny_model_dir), parent=sft)
    lineage = model_lineage(model=sft)
    assert lineage["ancestors"] == [base]
    assert sorted(n["model"].name for n in lineage["descendants"]) == ["dpo-1", "ppo-1"]
    assert [a.name for a in model_lineage(model=dpo)["ancestors"]] == ["base", "sft-1"]
    assert ppo.parent == sft


def test_sampling_models_are_policies_only(project, tiny_model_dir):  # noqa: F811
    rm = model_register(name="rm", backend="transformers", location=str(tiny_model_dir), kind="reward")
    with pytest.raises(ValidationError, match="rm is a reward model, not a policy"):
        project_sampling_models_set(project=project, models=[rm])
    with pytest.raises(ValidationError, match="Choose at least one model"):
        project_sampling_models_set(project=project, models=[])


def test_api_lists_and_registers_without_ever_returning_the_key(admin_api, endpoint, tiny_model_dir):  # noqa: F811
    r = admin_api.post("/api/models/", {"name": "served", "backend": "openai", "location": "http://127.0.0.1:9/v1",
                                        "endpoint_model": "m", "api_key": KEY, "timeout": 5, "concurrency": 2},
                       format="json")
    assert r.status_code == 201, r.content
    assert r.json()["has_api_key"] is True and r.json()["config"] == {"timeout": 5.0, "concurrency": 2}
    served = ModelVersion.objects.get(name="served")
    assert served.api_key == KEY
    r = admin_api.post("/api/models/", {"name": "child", "backend": "transformers", "location": str(tiny_model_dir),
                                        "parent": served.pk}, format="json")
    assert r.status_code == 201 and r.json()["parent_name"] == "served"
    for url in ("/api/models/", f"/api/models/{endpoint.pk}/", f"/api/models/{endpoint.pk}/lineage/"):
        body = admin_api.get(url).content.decode()
        assert KEY not in body and "user:pw" not in body, url
    detail = admin_api.get(f"/api/models/{endpoint.pk}/").json()
    assert detail["location"] == "https://api.example.com/v1" and detail["has_api_key"] is True
    r = admin_api.post("/api/models/", {"name": "bad", "backend": "openai", "location": "nowhere"}, format="json")
    assert r.status_code == 400 and "needs a base URL" in r.content.decode()


def test_api_is_for_admins(make_user, endpoint):
    client = APIClient()
    client.force_authenticate(make_user("lab"))
    assert client.get("/api/models/").status_code == 403
    assert client.post("/api/generations/", {}, format="json").status_code == 403


def test_api_starts_generation_and_sets_sampling_models(admin_api, project, tiny_model_dir):  # noqa: F811
    from training.ml.generate import loaded_models

    loaded_before = loaded_models()
    model = model_register(name="tiny", backend="transformers", location=str(tiny_model_dir))
    prompt_create(project=project, conversation="Why is the sky blue?")
    r = admin_api.put(f"/api/projects/{project.pk}/sampling-models/", {"model_versions": [model.pk]}, format="json")
    assert r.status_code == 200 and [m["name"] for m in r.json()] == ["tiny"]
    r = admin_api.post("/api/generations/", {"project": project.pk, "k": 3, "max_new_tokens": 8,
                                             "selection": {"mode": "unused"}}, format="json")
    assert r.status_code == 202, r.content
    job = Job.objects.get(pk=r.json()["id"])
    assert job.kind == "generate" and job.params["model_version_ids"] == [model.pk] and job.params["k"] == 3
    r = admin_api.post("/api/generations/", {"project": project.pk, "selection": {"mode": "tag", "tag": "none"}},
                       format="json")
    assert r.status_code == 400 and "No prompts match" in r.content.decode()
    assert loaded_models() == loaded_before  # the web side only queues jobs; workers load models


def test_suggestions_api_checks_membership_and_playground_rights(make_user, project, tiny_model_dir):  # noqa: F811
    model = model_register(name="tiny", backend="transformers", location=str(tiny_model_dir))
    project.sampling_models.add(model)
    member, outsider = make_user("member"), make_user("outsider")
    membership_set(project=project, user=member)
    conversation = [{"role": "user", "content": "Hello?"}]
    client = APIClient()
    client.force_authenticate(outsider)
    assert client.post("/api/suggestions/", {"project": project.pk, "conversation": conversation},
                       format="json").status_code == 403
    client.force_authenticate(member)
    r = client.post("/api/suggestions/", {"project": project.pk, "conversation": conversation}, format="json")
    assert r.status_code == 202 and r.json()["params"]["model_version_id"] == model.pk
    assert client.get(f"/api/jobs/{r.json()['id']}/").status_code == 200
    r = client.post("/api/suggestions/", {"project": project.pk, "conversation": conversation,
                                          "model_version": model.pk}, format="json")
    assert r.status_code == 403 and "Only admins may choose the model" in r.content.decode()
    r = client.post("/api/suggestions/", {"project": project.pk, "conversation": [{"role": "assistant",
                                                                                   "content": "Hi"}]}, format="json")
    assert r.status_code == 400 and "must end with a user turn" in r.content.decode()


def test_admin_pages_register_and_show_lineage_without_the_key(client, admin_user, endpoint, tiny_model_dir):  # noqa: F811
    client.force_login(admin_user)
    r = client.post("/training/models/", {"register": "1", "reg-name": "from-form", "reg-backend": "transformers",
                                          "reg-location": str(tiny_model_dir), "reg-kind": "policy",
                                          "reg-parent": ""})
    assert r.status_code == 302
    child = ModelVersion.objects.get(name="from-form")
    model_register(name="grandchild", backend="transformers", location=str(tiny_model_dir), parent=child)
    for url in ("/training/models/", f"/training/models/{endpoint.pk}/", "/training/models/lineage/",
                f"/training/models/{child.pk}/", "/training/playground/", "/training/generate/"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert KEY not in r.content.decode() and "user:pw" not in r.content.decode()
    page = client.get(f"/training/models/{child.pk}/").content.decode()
    assert "grandchild" in page
    r = client.post("/training/models/", {"register": "1", "reg-name": "bad", "reg-backend": "openai",
                                          "reg-location": "ftp://x", "reg-kind": "policy"})
    assert r.status_code == 200 and "needs a base URL" in r.content.decode()


def test_pages_are_for_admins(client, make_user):
    client.force_login(make_user("lab"))
    assert client.get("/training/models/").status_code == 403
    assert client.get("/training/playground/").status_code == 403


def test_models_command(tiny_model_dir, project, monkeypatch):  # noqa: F811
    out = StringIO()
    call_command("models", "register", "cli-tiny", "--backend", "transformers", "--location", str(tiny_model_dir),
                 stdout=out)
    monkeypatch.setenv("RL_TEST_KEY", KEY)
    call_command("models", "register", "cli-endpoint", "--backend", "openai", "--location", "http://127.0.0.1:9/v1",
                 "--endpoint-model", "m", "--api-key-env", "RL_TEST_KEY", "--parent", "cli-tiny", stdout=out)
    call_command("models", "sample", project.name, "cli-tiny", stdout=out)
    call_command("models", "list", stdout=out)
    call_command("models", "lineage", "cli-tiny", stdout=out)
    prompt_create(project=project, conversation="What is rain?")
    call_command("models", "generate", project.name, "--k", "2", "--max-new-tokens", "8", stdout=out)
    text = out.getvalue()
    assert "Registered cli-tiny" in text and "(key set)" in text and KEY not in text
    assert "Queued generation job" in text and "cli-endpoint" in text
    assert ModelVersion.objects.get(name="cli-endpoint").api_key == KEY
    assert json.dumps(list(project.sampling_models.values_list("name", flat=True))) == '["cli-tiny"]'
