"""A labeler never loses work and always knows what to do, in a real browser (Chromium, strict
CSP, axe-core): a suggestion never silently replaces their edits, a second tab's submit says the
task was answered, errors are sentences that go away when the labeler acts, cut-off answers are
marked, Submit stays in view, a phone gets one header row and a sticky rank bar without keyboard
hints, and a dialogue's prompt cannot be edited."""
import json
import os

import pytest
from playwright.sync_api import expect

from annotate.models import Assignment, Ranking
from annotate.services.projects import candidate_create, prompt_create, task_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
REPLACE = "Replace what you wrote with the model suggestion? Your text in this box will be lost."


def _open(page, live_server, project):
    page.goto(f"{live_server.url}/projects/{project.pk}/work/")
    expect(page.locator("#workspace [data-task-root][data-mounted]")).to_have_count(1)


def test_a_suggestion_never_replaces_edited_text_without_asking(live_server, page, page_guard, login, labeler,
                                                                 project):
    prompt = prompt_create(project=project, conversation="How do I boil an egg?")
    first = candidate_create(prompt=prompt, text="Boil it for 8 minutes.", source="model")
    second = candidate_create(prompt=prompt, text="Simmer it gently.", source="model")
    task_create(project=project, prompt=prompt, kind="demonstration", candidates=[first, second])
    login(labeler)
    _open(page, live_server, project)
    texts = {first.pk: first.text, second.pk: second.text}
    one, two = (texts[cid] for cid in Assignment.objects.get(labeler=labeler).shown_order)  # shuffled per labeler
    answer = page.get_by_label("Your answer (markdown)")
    page.keyboard.press("i")
    expect(answer).to_have_value(one)
    answer.press("End")
    answer.type(" Then cool it.")
    answer.press("Escape")
    page_guard.expect_dialog(REPLACE, accept=False)
    page.keyboard.press("i")
    expect(answer).to_have_value(one + " Then cool it.")
    assert page_guard.answered == [REPLACE]
    page_guard.expect_dialog(REPLACE, accept=True)
    page.keyboard.press("i")
    expect(answer).to_have_value(two)
    page_guard.axe()


def test_a_second_tab_is_told_the_task_was_already_answered(live_server, page, page_guard, login, labeler, project,
                                                            make_ranking_task):
    first = make_ranking_task(k=2)
    make_ranking_task(k=2)
    login(labeler)
    _open(page, live_server, project)
    other = page.context.new_page()
    _open(other, live_server, project)
    for tab in (page, other):
        expect(tab.locator(".task-title")).to_contain_text(f"task {first.pk}")
        tab.keyboard.press("1")
        tab.keyboard.press("2")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".task-title")).not_to_contain_text(f"task {first.pk}")
    other.keyboard.press("Control+Enter")
    error = other.locator("#task-form [data-error]")
    expect(error).to_contain_text("You already submitted this task (in another tab or window)")
    expect(other.locator(".task-title")).to_contain_text(f"task {first.pk}")
    assert Ranking.objects.filter(task=first).count() == 1
    other.keyboard.press("1")  # acting does not hide what happened to this task
    expect(error).to_contain_text("already submitted")
    other.wait_for_timeout(400)  # past the draft's 250 ms debounce: nothing is saved for an answered task
    other.get_by_role("link", name="Go to the next task").click()
    expect(other.locator(".task-title")).not_to_contain_text(f"task {first.pk}")
    aid = Assignment.objects.get(task=first).pk
    assert other.evaluate(f"localStorage.getItem('ranklab:draft:{aid}')") is None
    other.close()


def test_errors_are_sentences_and_go_away_when_the_labeler_acts(live_server, page, page_guard, login, labeler,
                                                                project, make_ranking_task):
    make_ranking_task(k=3)
    login(labeler)
    _open(page, live_server, project)
    page.keyboard.press("Control+Enter")
    error = page.locator("#task-form [data-error]")
    expect(error).to_contain_text("Rank every response before submitting")
    page.keyboard.press("2")
    expect(error).to_be_empty()
    sentence = page.evaluate("""async () => (await import('/static/ranklab/js/errors.js')).apiErrorText(
        {conversation: {"1": {content: ["This field may not be blank."]}}, detail: "Try again"}, 400)""")
    assert sentence == "Turn 2: this field may not be blank. Try again."


def test_a_dialogue_suggestion_for_an_unwritten_conversation_says_what_to_do(live_server, page, page_guard, login,
                                                                            labeler, project):
    prompt = prompt_create(project=project, conversation="Help me plan a trip.")
    task_create(project=project, prompt=prompt, kind="dialogue")
    login(labeler)
    _open(page, live_server, project)
    turns = page.locator("[data-turns] > li")
    turns.nth(1).locator("textarea").fill("Where to?")
    turns.nth(1).locator("textarea").press("Escape")
    page.keyboard.press("a")  # user turn 3, left empty
    page.keyboard.press("Escape")
    page.keyboard.press("a")  # assistant turn 4
    turns.nth(3).get_by_role("button", name="Insert model suggestion").click()
    status = turns.nth(3).locator("[data-suggest-status]")
    expect(status).to_have_text("Write turn 3 first: the model answers the conversation so far.")
    turns.nth(3).locator("textarea").fill("x")
    expect(status).to_be_empty()
    # The prompt is the task's: it cannot be edited, and the server refuses a changed one.
    expect(turns.nth(0).locator("textarea")).not_to_be_editable()
    page_guard.axe()


def test_cut_off_answers_are_marked(live_server, page, page_guard, login, labeler, project):
    prompt = prompt_create(project=project, conversation="Tell me a long story.")
    cut = candidate_create(prompt=prompt, text="Once upon a time there was", source="model",
                           sampling_params={"finish_reason": "length", "max_new_tokens": 6})
    whole = candidate_create(prompt=prompt, text="The end.", source="model", sampling_params={"finish_reason": "stop"})
    task_create(project=project, prompt=prompt, kind="ranking", candidates=[cut, whole])
    login(labeler)
    _open(page, live_server, project)
    marked = page.locator("article.candidate:has([data-cut-off])")
    expect(marked).to_have_count(1)
    expect(marked.locator(".candidate-text")).to_contain_text("Once upon a time")
    expect(marked.locator("[data-cut-off]")).to_contain_text("Cut off")
    page_guard.axe()


def _long_task(project):
    long_prompt = "\n\n".join(f"Paragraph {i} of a long question about tides, moons and harbours." for i in range(30))
    prompt = prompt_create(project=project, conversation=long_prompt)
    cands = [candidate_create(prompt=prompt, text="\n\n".join([f"Answer {n}, line {i}." for i in range(25)]),
                              source="model") for n in range(4)]
    return task_create(project=project, prompt=prompt, kind="ranking", candidates=cands)


def test_submit_is_in_view_at_1280_by_800(live_server, page, page_guard, login, labeler, project, screenshot):
    _long_task(project)
    page.set_viewport_size({"width": 1280, "height": 800})
    login(labeler)
    _open(page, live_server, project)
    expect(page.get_by_role("button", name="Submit & next")).to_be_in_viewport()
    page.mouse.wheel(0, 1500)
    expect(page.get_by_role("button", name="Submit & next")).to_be_in_viewport()
    page_guard.axe()
    page.mouse.wheel(0, -1500)
    screenshot("workspace")


def test_a_phone_gets_one_header_row_a_rank_bar_and_no_keyboard_hints(live_server, browser, login, labeler, project):
    from conftest import PageGuard

    _long_task(project)
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    guard = PageGuard(phone, live_server.url)
    login(labeler, context=context)
    _open(phone, live_server, project)
    bar = phone.locator("header.topbar")
    brand, logout = bar.locator(".brand").bounding_box(), bar.locator(".logout button").bounding_box()
    assert bar.bounding_box()["height"] < 60 and abs(brand["y"] - logout["y"]) < 12, "one header row"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375, "nothing wider than the phone"
    rank_bar = phone.locator("[data-rank-bar]")
    expect(rank_bar).to_be_in_viewport()
    expect(phone.locator(".keys-hint").first).to_be_hidden()
    expect(phone.locator("button[type=submit] kbd").first).to_be_hidden()
    expect(phone.locator(".touch-hint")).to_be_visible()
    phone.locator("article.candidate").nth(2).get_by_role("button", name="Rank next").tap()
    expect(rank_bar).to_contain_text("3 · 3 left")
    rank_bar.get_by_role("link", name="Rank & submit").tap()
    expect(phone.locator("[data-board]")).to_be_in_viewport()
    if os.environ.get("RANKLAB_SCREENS"):
        phone.screenshot(path=os.path.join(os.environ["RANKLAB_SCREENS"], "workspace-phone-375.png"))
    guard.axe()
    guard.assert_clean()
    context.close()


def test_the_dialogue_prompt_cannot_be_changed_on_submit(client, labeler, project):
    prompt = prompt_create(project=project, conversation="Help me name my cat.")
    task_create(project=project, prompt=prompt, kind="dialogue")
    client.force_login(labeler)
    client.get(f"/projects/{project.pk}/work/")
    assignment = Assignment.objects.get(labeler=labeler)
    response = client.post(f"/projects/{project.pk}/work/{assignment.pk}/demonstration/", {
        "conversation": json.dumps([{"role": "user", "content": "Help me name my dog."},
                                    {"role": "assistant", "content": "Rex."}])}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "first turns are the prompt, unchanged" in response.content.decode()
