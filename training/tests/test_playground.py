"""Suggestions and the admin playground: a "suggest" job answers a conversation with the
project's model; streamed, it writes the text so far into the job as it goes; in a real
browser (strict CSP) an admin types a conversation and reads the answer a real worker wrote."""
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from playwright.sync_api import expect

from conftest import wait_for
from jobs.models import Job, JobStatus
from jobs.services import job_create, job_run
from training.services.generation import suggestion_start
from training.services.registry import model_register
from training.tests.test_generation import tiny_model_dir  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)
CONVERSATION = [{"role": "user", "content": "Hello, who are you?"}]


@pytest.fixture
def tiny_model(tiny_model_dir):  # noqa: F811
    return model_register(name="tiny-policy", backend="transformers", location=str(tiny_model_dir))


def test_suggest_job_as_the_workspace_queues_it(project, tiny_model, labeler):
    """The labeler workspace queues {"conversation", "project_id"}: the project's model answers."""
    project.sampling_models.add(tiny_model)
    job = job_create(kind="suggest", user=labeler, project=project,
                     params={"conversation": CONVERSATION, "project_id": project.pk}, enqueue=False)
    job = job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert isinstance(job.result["text"], str) and job.result["text"]
    assert job.result["model_version_id"] == tiny_model.pk and job.result["seed"] is not None
    assert job.result["sampling_params"] == {"temperature": 0.7, "top_p": 0.95, "max_new_tokens": 256}


def test_suggest_with_a_seed_is_reproducible(admin_user, tiny_model):
    params = {"seed": 99, "max_new_tokens": 12}
    first = job_run(job_id=suggestion_start(user=admin_user, conversation=CONVERSATION, model_version=tiny_model,
                                            params=params).pk)
    second = job_run(job_id=suggestion_start(user=admin_user, conversation=CONVERSATION, model_version=tiny_model,
                                             params=params).pk)
    assert first.result["text"] == second.result["text"] and first.result["seed"] == 99


def test_suggestion_start_validates(admin_user, tiny_model, tiny_model_dir, project):  # noqa: F811
    with pytest.raises(ValidationError, match="must end with a user turn"):
        suggestion_start(user=admin_user, conversation=[{"role": "assistant", "content": "Hi"}], project=project)
    with pytest.raises(ValidationError, match="Name a project or a model version"):
        suggestion_start(user=admin_user, conversation=CONVERSATION)
    rm = model_register(name="rm", backend="transformers", location=str(tiny_model_dir), kind="reward")
    with pytest.raises(ValidationError, match="rm is a reward model"):
        suggestion_start(user=admin_user, conversation=CONVERSATION, model_version=rm)
    with pytest.raises(ValidationError, match="max_new_tokens must be in"):
        suggestion_start(user=admin_user, conversation=CONVERSATION, model_version=tiny_model,
                         params={"max_new_tokens": 0})


def test_streamed_suggestion_shows_partial_text_while_it_runs(admin_user, tiny_model):
    job = suggestion_start(user=admin_user, conversation=CONVERSATION, model_version=tiny_model, stream=True,
                           params={"max_new_tokens": 400, "temperature": 1.0, "top_p": 1.0})
    runner = threading.Thread(target=job_run, kwargs={"job_id": job.pk})
    runner.start()
    partials = []
    while runner.is_alive():
        result = Job.objects.get(pk=job.pk).result
        if result.get("partial"):
            partials.append(result["text"])
        time.sleep(0.02)
    runner.join()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and "partial" not in job.result
    assert partials, "no partial text was written while the answer was being sampled"
    assert all(job.result["text"].startswith(p.strip()[:20]) for p in partials)


@pytest.mark.browser
def test_playground_streams_the_answer_of_a_real_worker(live_server, page, client, admin_user, tiny_model,
                                                        celery_worker):
    from django.conf import settings

    celery_worker("generation", extra_env={"OMP_NUM_THREADS": "1"})
    problems = []
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "(e) => window.__csp.push(e.violatedDirective));")
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(30_000)
    client.force_login(admin_user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])

    page.goto(f"{live_server.url}/training/playground/?model={tiny_model.pk}")
    expect(page.get_by_label("Model", exact=True)).to_have_value(str(tiny_model.pk))
    page.get_by_label("Max new tokens").fill("40")
    box = page.get_by_label("Your message")
    box.fill("<b>Tell me</b> a story.")
    box.press("Control+Enter")
    expect(page.locator(".turn.user .text")).to_have_text("<b>Tell me</b> a story.")  # text, never HTML
    expect(page.locator("[data-role=status]")).to_contain_text("done · seed", timeout=90_000)
    answer = page.locator(".turn.assistant .text").first.text_content()
    assert answer.strip()
    box.fill("And then?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".turn.assistant")).to_have_count(2)
    job = wait_for(lambda: Job.objects.filter(kind="suggest", status=JobStatus.SUCCEEDED).order_by("-pk")
                   .exclude(pk=Job.objects.filter(kind="suggest").order_by("pk").first().pk).first(),
                   timeout=90, message="the second answer")
    assert [m["role"] for m in job.params["conversation"]] == ["user", "assistant", "user"]
    assert job.params["stream"] is True
    expect(page.locator(".turn.assistant .text").nth(1)).to_have_text(job.result["text"])
    expect(page.locator("[data-role=status]")).to_contain_text("done · seed")
    assert page.evaluate("window.__csp") == [] and problems == []


@pytest.mark.browser
def test_generate_page_starts_a_job_and_follows_its_progress(live_server, page, client, admin_user, tiny_model,
                                                             project):
    from django.conf import settings

    from annotate.services.projects import prompt_create

    for text in ("What is a cloud?", "Why do cats purr?"):
        prompt_create(project=project, conversation=text)
    project.sampling_models.add(tiny_model)
    problems = []
    page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                         "(e) => window.__csp.push(e.violatedDirective));")
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(20_000)
    client.force_login(admin_user)
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "url": live_server.url,
                               "value": client.cookies[settings.SESSION_COOKIE_NAME].value}])

    page.goto(f"{live_server.url}/training/generate/?project={project.pk}")
    page.get_by_label("K (candidates per prompt)").fill("3")
    page.get_by_label("Max new tokens").fill("6")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("[data-role=status]")).to_have_text("queued")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    job_run(job_id=Job.objects.get(kind="generate").pk)  # the worker's part, here in the test
    expect(page.locator("[data-role=status]")).to_have_text("succeeded")
    expect(page.locator("[data-role=message]")).to_have_text("done")
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    assert page.evaluate("document.querySelector('progress').value") == 1
    page.get_by_role("button", name="Generate").click()  # again: nothing new to make
    expect(page.get_by_role("alert").filter(has_text="No prompts match")).to_be_visible()
    assert page.evaluate("window.__csp") == [] and problems == []
