"""The Generate form says how many prompts the selection covers (live, as the admin edits it) and
asks before queuing more than a hundred."""
import pytest
from playwright.sync_api import expect

from annotate.services.projects import prompt_create
from jobs.models import Job
from training.services.registry import model_register


@pytest.fixture
def many(project):
    for i in range(150):
        prompt_create(project=project, conversation=f"Question {i}?")
    model = model_register(name="endpoint", backend="openai", location="http://127.0.0.1:9/v1", endpoint_model="m")
    project.sampling_models.add(model)
    return project


def _form(project, **over):
    return {"project": project.pk, "mode": "unused", "temperature": "1.0", "top_p": "0.95", "max_new_tokens": "32",
            **over}


@pytest.mark.django_db
def test_the_form_counts_the_selection_and_confirms_a_big_one(client, admin_user, many):
    client.force_login(admin_user)
    page = client.get(f"/training/generate/?project={many.pk}").content.decode()
    assert "This selection covers <strong>150 prompts</strong>: 600 answers at K = 4" in page
    counted = client.get("/training/generate/count/", _form(many, n="20")).content.decode()
    assert "covers <strong>20 prompts</strong>: 80 answers" in counted
    nothing = client.get("/training/generate/count/", _form(many, mode="tag", tag="nope")).content.decode()
    assert "No prompts match" in nothing

    asked = client.post("/training/generate/", _form(many))
    assert asked.status_code == 200 and "Queue 150 prompts?" in asked.content.decode()
    assert not Job.objects.filter(kind="generate").exists()
    queued = client.post("/training/generate/", _form(many, confirm="150"))
    assert queued.status_code == 302 and len(Job.objects.get(kind="generate").params["prompt_ids"]) == 150
    small = client.post("/training/generate/", _form(many, mode="sample", n="10"))
    assert small.status_code == 302 and Job.objects.filter(kind="generate").count() == 2


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_count_follows_the_form(live_server, page, page_guard, login, admin_user, many):
    login(admin_user)
    page.goto(f"{live_server.url}/training/generate/?project={many.pk}")
    coverage = page.get_by_test_id("coverage")
    expect(coverage).to_contain_text("150 prompts")
    page.get_by_label("At most N prompts").fill("12")
    expect(coverage).to_contain_text("12 prompts: 48 answers")
    page_guard.axe()
