"""Demonstration and dialogue pages in a real browser."""
import pytest
from playwright.sync_api import expect

from annotate.models import Assignment, Demonstration
from annotate.services.projects import candidate_create, prompt_create, task_create
from annotate.services.text import edit_distance_normalised

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open(page, live_server, project):
    page.goto(f"{live_server.url}/projects/{project.pk}/work/")
    expect(page.locator("#workspace [data-task-root][data-mounted]")).to_have_count(1)


def test_demonstration_from_model_suggestion_records_use_and_edit_distance(live_server, page, page_guard, login,
                                                                           labeler, project):
    project.guidelines = "# How to write\nBe **kind**. <script>alert('g')</script>"
    project.save()
    prompt = prompt_create(project=project, conversation="How do I boil an egg?")
    suggestion = "Put the egg in **boiling** water for 8 minutes."
    cand = candidate_create(prompt=prompt, text=suggestion, source="model")
    task = task_create(project=project, prompt=prompt, kind="demonstration", candidates=[cand])
    login(labeler)
    _open(page, live_server, project)

    page.keyboard.press("g")  # guidelines: sanitised markdown in a panel
    guidelines = page.get_by_role("dialog", name="Guidelines · Test project")
    expect(guidelines.get_by_role("heading", name="How to write")).to_be_visible()
    expect(guidelines).to_contain_text("<script>alert('g')</script>")
    page.keyboard.press("Escape")
    expect(guidelines).to_be_hidden()

    page.keyboard.press("Control+Enter")  # empty: refused on the page
    expect(page.locator("[data-error]").first).to_have_text("Write an answer before submitting.")
    page.keyboard.press("i")
    answer = page.get_by_label("Your answer (markdown)")
    expect(answer).to_have_value(suggestion)
    answer.press("End")
    answer.type(" Then cool it in cold water.")
    expect(page.locator("[data-length-guide]")).to_contain_text("15 words")
    answer.press("Escape")
    page.keyboard.press("p")  # preview: server-rendered, sanitised markdown
    expect(page.locator("[data-preview] strong")).to_have_text("boiling")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()

    demo = Demonstration.objects.get(task=task)
    final = suggestion + " Then cool it in cold water."
    assert demo.text == final and demo.suggestion_used and demo.suggestion_candidate_id == cand.pk
    assert demo.edit_distance == pytest.approx(edit_distance_normalised(suggestion, final), abs=1e-4)
    assert 0 < demo.edit_distance < 0.5 and demo.time_on_task_ms > 0


def test_dialogue_of_two_user_and_two_assistant_turns_is_one_conversation(live_server, page, page_guard, login,
                                                                         labeler, project):
    prompt = prompt_create(project=project, conversation="Help me name my cat.")
    cand = candidate_create(prompt=prompt, text="How about Miso?", source="model")
    task = task_create(project=project, prompt=prompt, kind="dialogue", candidates=[cand])
    login(labeler)
    _open(page, live_server, project)
    turns = page.locator("[data-turns] > li")
    expect(turns).to_have_count(2)  # the prompt's user turn and an empty assistant turn
    page.keyboard.press("i")  # first assistant turn: the task's candidate
    expect(turns.nth(1).locator("textarea")).to_have_value("How about Miso?")
    turns.nth(1).locator("textarea").press("End")
    turns.nth(1).locator("textarea").type(" Or Tofu.")
    turns.nth(1).locator("textarea").press("Escape")
    page.keyboard.press("a")
    page.keyboard.type("She is grey and very calm.")
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    expect(turns).to_have_count(4)
    expect(turns.nth(3)).to_have_attribute("data-role", "assistant")
    turns.nth(3).get_by_role("button", name="Insert model suggestion").click()
    # No policy model is registered here: the page says so instead of failing.
    expect(turns.nth(3).get_by_role("button", name="Suggestions unavailable")).to_be_visible()
    expect(turns.nth(3).locator("[data-suggest-status]")).to_contain_text("unavailable")
    turns.nth(3).locator("textarea").fill("Then Smokey or Pebble would suit her.")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()

    demo = Demonstration.objects.get(task=task)
    assert demo.conversation == [
        {"role": "user", "content": "Help me name my cat."},
        {"role": "assistant", "content": "How about Miso? Or Tofu."},
        {"role": "user", "content": "She is grey and very calm."},
        {"role": "assistant", "content": "Then Smokey or Pebble would suit her."},
    ]
    assert demo.suggestion_used and demo.suggestion_candidate_id == cand.pk
    assert demo.edit_distance == pytest.approx(edit_distance_normalised("How about Miso?", "How about Miso? Or Tofu."))
    assert Assignment.objects.get(task=task).state == "submitted"


def suggest_handler(job, ctx):
    """Stands in for the generation app's "suggest" handler (which needs a live model; it has
    its own tests): what is tested here is the page's part: start a job, poll it, insert its text."""
    ctx.progress(0.5, "generating")
    return {"text": f"Reply to: {job.params['conversation'][-1]['content']}"}


def test_dialogue_suggestion_for_a_later_turn_comes_from_a_job(live_server, page, page_guard, login, labeler,
                                                              project, monkeypatch):
    from jobs import registry
    from jobs.models import Job, JobStatus
    from jobs.services import job_run
    from training.services.registry import model_register, project_sampling_models_set

    policy = model_register(name="policy-under-test", backend="openai", location="http://127.0.0.1:9/v1",
                            endpoint_model="none")
    project_sampling_models_set(project=project, models=[policy])
    monkeypatch.setitem(registry.JOB_KINDS, "suggest", registry.JobSpec(
        handler="annotate.tests.test_browser_writing.suggest_handler", queue="generation"))
    prompt = prompt_create(project=project, conversation="Hi there")
    task = task_create(project=project, prompt=prompt, kind="dialogue")  # no candidates: every suggestion is a job
    login(labeler)
    _open(page, live_server, project)
    turns = page.locator("[data-turns] > li")
    turns.nth(1).get_by_role("button", name="Insert model suggestion").click()
    expect(turns.nth(1).locator("[data-suggest-status]")).to_contain_text("Asking the model")
    job = None
    for _ in range(100):
        job = Job.objects.filter(kind="suggest", created_by=labeler).first()
        if job:
            break
        page.wait_for_timeout(50)
    assert job.params["conversation"] == [{"role": "user", "content": "Hi there"}]
    assert job.params["project_id"] == project.pk and job.params["model_version_id"] == policy.pk
    job_run(job_id=job.pk)  # what a Celery worker would do
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED
    expect(turns.nth(1).locator("textarea")).to_have_value("Reply to: Hi there", timeout=15_000)
    turns.nth(1).locator("textarea").press("End")
    turns.nth(1).locator("textarea").type("!")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()
    demo = Demonstration.objects.get(task=task)
    assert demo.conversation[-1] == {"role": "assistant", "content": "Reply to: Hi there!"}
    assert demo.suggestion_used and demo.suggestion_candidate_id is None
    assert demo.edit_distance == pytest.approx(edit_distance_normalised("Reply to: Hi there", "Reply to: Hi there!"))


def test_unsent_dialogue_and_demonstration_survive_a_reload(live_server, page, page_guard, login, labeler, project):
    prompt = prompt_create(project=project, conversation="Plan my Sunday.")
    cand = candidate_create(prompt=prompt, text="Start with a walk.", source="model")
    dialogue = task_create(project=project, prompt=prompt, kind="dialogue", candidates=[cand], priority=2)
    demo_prompt = prompt_create(project=project, conversation="Define entropy.")
    task_create(project=project, prompt=demo_prompt, kind="demonstration", priority=1)
    login(labeler)
    _open(page, live_server, project)
    turns = page.locator("[data-turns] > li")
    page.keyboard.press("i")  # the candidate, into the first assistant turn
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    page.keyboard.type("Then what?")
    aid = Assignment.objects.get(task=dialogue).pk
    page.wait_for_function(f"() => (localStorage.getItem('ranklab:draft:{aid}') || '').includes('Then what?')")
    page.reload()
    expect(page.locator("#workspace [data-task-root][data-mounted]")).to_have_count(1)
    expect(page.locator("[data-draft-note]").first).to_contain_text("restored")
    expect(turns).to_have_count(4)  # user, assistant, user, and a fresh assistant turn
    expect(turns.nth(1).locator("textarea")).to_have_value("Start with a walk.")
    expect(turns.nth(2).locator("textarea")).to_have_value("Then what?")
    turns.nth(3).locator("textarea").fill("Lunch by the river.")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("heading", name="Write the ideal answer")).to_be_visible()
    saved = Demonstration.objects.get(task=dialogue)
    assert [m["content"] for m in saved.conversation] == [
        "Plan my Sunday.", "Start with a walk.", "Then what?", "Lunch by the river."]
    assert saved.suggestion_candidate_id == cand.pk and saved.edit_distance == 0.0

    expect(page.locator("#workspace [data-task-root][data-mounted]")).to_have_count(1)
    page.get_by_label("Your answer (markdown)").fill("Entropy measures disorder.")
    demo_aid = Assignment.objects.get(task__prompt=demo_prompt).pk
    page.wait_for_function(f"() => (localStorage.getItem('ranklab:draft:{demo_aid}') || '').includes('disorder')")
    page.reload()
    expect(page.locator("#workspace [data-task-root][data-mounted]")).to_have_count(1)
    expect(page.get_by_label("Your answer (markdown)")).to_have_value("Entropy measures disorder.")
    expect(page.locator("[data-length-guide]")).to_contain_text("3 words")
