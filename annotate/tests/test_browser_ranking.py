"""The ranking page in a real browser (Debian Chromium via Playwright, against live_server)."""
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from annotate.models import Assignment, AssignmentState, Ranking, RankingOutcome
from annotate.services.projects import candidate_create, prompt_create, task_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


def _workspace(live_server, project):
    return f"{live_server.url}/projects/{project.pk}/work/"


def _ready(page):
    """Wait until the task's JavaScript is mounted (module scripts run after the HTML is shown)."""
    expect(page.locator("#workspace [data-task-root][data-mounted]")).to_have_count(1)


def _positions_and_order(labeler, task):
    """{position: candidate id} as this labeler sees the task."""
    order = Assignment.objects.get(labeler=labeler, task=task).shown_order
    return {i + 1: cid for i, cid in enumerate(order)}, order


def test_keyboard_only_ranking_with_a_tie_then_next_task(live_server, page, page_guard, labeler, project,
                                                         make_ranking_task):
    first = make_ranking_task(k=4, prompt=[{"role": "user", "content": "Name a fruit."},
                                           {"role": "assistant", "content": "Apple."},
                                           {"role": "user", "content": "Another one, please."}])
    second = make_ranking_task(k=4)
    started = time.monotonic()
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("labeler1")
    page.get_by_label("Password").fill("pw-12345678")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Start labelling").click()
    expect(page.locator(".task-title")).to_contain_text(f"task {first.pk}")
    _ready(page)
    expect(page.locator(".turn-assistant")).to_contain_text("Apple.")  # roles of the conversation are shown
    pos, order = _positions_and_order(labeler, first)

    for key in ["3", "1", "4", "=", "2"]:  # 3 > 1 = 4 > 2
        page.keyboard.press(key)
    page.keyboard.press("2")  # select 2, move it up above the tie, then back down
    page.keyboard.press("k")
    expect(page.locator("[data-tier='1'] .chip")).to_have_text(["2"])
    page.keyboard.press("j")
    expect(page.locator("[data-board] .tier")).to_have_count(3)
    expect(page.locator("[data-tier='1'] .chip")).to_have_text(["1", "4"])
    page.keyboard.press("3")
    page.keyboard.press("Shift+Digit6")  # rate response 3: 6
    page.keyboard.press("f")  # flags of response 3: first two, by Space and Tab
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    page.keyboard.press("Escape")
    aid = Assignment.objects.get(task=first).pk
    expect(page.locator(f"#candidate-{aid}-3 [data-flag-count]")).to_have_text("(2)")
    expect(page.locator(f"#candidate-{aid}-1 [data-rank-label]")).to_have_text("Ranked 2nd (tie)")
    page.keyboard.press("Control+Enter")

    expect(page.locator(".task-title")).to_contain_text(f"task {second.pk}")
    _ready(page)
    expect(page.get_by_test_id("done-today")).to_have_text("1")
    wall_ms = (time.monotonic() - started) * 1000
    ranking = Ranking.objects.get(task=first)
    assert ranking.outcome == RankingOutcome.RANKED
    assert ranking.tiers == [[pos[3]], [pos[1], pos[4]], [pos[2]]]
    assert ranking.ratings == {str(pos[3]): 6}
    assert ranking.flags == {str(pos[3]): ["fails_instruction", "hallucination"]}
    assert ranking.shown_order == order and sorted(order) == sorted(first.candidate_ids())
    assert 0 < ranking.time_on_task_ms < wall_ms
    assert Assignment.objects.get(task=second, labeler=labeler).state == AssignmentState.ACTIVE


def test_drag_and_drop_ranking(live_server, page, page_guard, login, labeler, project, make_ranking_task):
    task = make_ranking_task(k=4)
    login(labeler)
    page.goto(_workspace(live_server, project))
    _ready(page)
    board, pool = page.locator("[data-board]"), page.locator("[data-pool]")
    pool.locator(".chip[data-pos='2']").drag_to(board.locator("[data-gap='0']"))
    pool.locator(".chip[data-pos='4']").drag_to(board.locator("[data-gap='1']"))
    pool.locator(".chip[data-pos='1']").drag_to(board.locator("[data-tier='1']"))  # tie with 4
    pool.locator(".chip[data-pos='3']").drag_to(board.locator("[data-gap='2']"))
    board.locator(".chip[data-pos='3']").drag_to(board.locator("[data-gap='0']"))  # 3 to the top
    board.locator(".chip[data-pos='1']").drag_to(pool)  # out of the ranking, and back into the tie
    expect(pool.locator(".chip")).to_have_text(["1"])
    pool.locator(".chip[data-pos='1']").drag_to(board.locator("[data-tier='2']"))
    expect(board.locator(".tier")).to_have_count(3)
    expect(board.locator("[data-tier='2'] .chip")).to_have_text(["4", "1"])
    aid = Assignment.objects.get(task=task).pk
    page.locator(f"#candidate-{aid}-4 .rating-option", has_text="5").click()
    page.locator(f"#candidate-{aid}-2 summary").click()
    page.locator(f"#candidate-{aid}-2").get_by_label("Expresses an opinion").check()
    page.get_by_label("Rationale").fill("3 is the most complete.")
    page.get_by_role("button", name="Submit & next").click()
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()
    pos, order = _positions_and_order(labeler, task)
    ranking = Ranking.objects.get(task=task)
    assert ranking.tiers == [[pos[3]], [pos[2]], [pos[4], pos[1]]]
    assert ranking.ratings == {str(pos[4]): 5} and ranking.flags == {str(pos[2]): ["opinion"]}
    assert ranking.rationale == "3 is the most complete." and ranking.shown_order == order


def test_none_acceptable_cant_judge_and_skip(live_server, page, page_guard, login, labeler, project,
                                             make_ranking_task):
    tasks = [make_ranking_task(k=2) for _ in range(3)]
    login(labeler)
    page.goto(_workspace(live_server, project))
    _ready(page)
    expect(page.get_by_text("How much better is the preferred one?")).to_be_visible()  # K = 2
    page.keyboard.press("Control+Enter")  # nothing ranked: refused on the page, nothing sent
    expect(page.locator("[data-error]").first).to_contain_text("Rank every response")
    page.keyboard.press("n")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".task-title")).to_contain_text(f"task {tasks[1].pk}")
    _ready(page)
    page.keyboard.press("c")
    page.keyboard.press("Control+Enter")
    expect(page.locator("[data-error]").first).to_have_text("Say why you can't judge this task.")
    page.get_by_label("Why can't you judge?").fill("Needs legal expertise")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".task-title")).to_contain_text(f"task {tasks[2].pk}")
    _ready(page)
    page.keyboard.press("s")
    page.get_by_label("Reason").fill("The prompt is broken or unclear")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()

    assert Ranking.objects.get(task=tasks[0]).outcome == RankingOutcome.NONE_ACCEPTABLE
    cant = Ranking.objects.get(task=tasks[1])
    assert cant.outcome == RankingOutcome.CANT_JUDGE and cant.cant_judge_reason == "Needs legal expertise"
    skipped = Assignment.objects.get(task=tasks[2], labeler=labeler)
    assert skipped.state == AssignmentState.SKIPPED and skipped.skip_reason == "The prompt is broken or unclear"
    assert not Ranking.objects.filter(task=tasks[2]).exists()
    page.reload()
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()


def test_untrusted_text_renders_as_text(live_server, page, page_guard, login, labeler, project):
    prompt = prompt_create(project=project, conversation=f"Repeat this: {XSS}")
    cands = [candidate_create(prompt=prompt, text=XSS, source="model"),
             candidate_create(prompt=prompt, text="**bold** and `code`", source="model")]
    task = task_create(project=project, prompt=prompt, kind="ranking", candidates=cands)
    login(labeler)
    page.goto(_workspace(live_server, project))
    _ready(page)
    aid = Assignment.objects.get(task=task).pk
    texts = page.locator(".candidate-text")
    expect(texts.filter(has_text=XSS)).to_have_count(1)
    expect(page.locator(".conversation")).to_contain_text(XSS)
    expect(page.locator("main img, main script")).to_have_count(0)
    expect(texts.locator("strong")).to_have_text("bold")  # markdown still renders, sanitised
    page.keyboard.press("?")
    expect(page.get_by_role("heading", name="Keyboard")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == [] and page_guard.dialogs == []
    assert aid  # the fixture asserts again at teardown: no dialog, no CSP violation, no JS error


def test_phone_width_has_no_horizontal_scroll_and_every_control_is_reachable(live_server, page, page_guard, login,
                                                                             labeler, project, make_ranking_task):
    make_ranking_task(k=4, texts=["A long answer " * 40, "Short.", "```python\nprint('x' * 200)  # " + "y" * 150 + "\n```",
                                  "https://example.org/" + "a" * 120])
    login(labeler)
    shots = Path(settings.DATA_DIR) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.goto(_workspace(live_server, project))
    _ready(page)
    page.screenshot(path=str(shots / "ranking-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    _ready(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    outside = page.evaluate("""() => Array.from(document.querySelectorAll(
        'main button, main input:not([type=hidden]), main textarea, main summary, main a, main .rating-option'))
      .filter((el) => el.offsetParent !== null)
      .map((el) => [el.outerHTML.slice(0, 60), el.getBoundingClientRect()])
      .filter(([, r]) => r.left < 0 || r.right > 375 || r.width === 0)""")
    assert outside == []
    page.screenshot(path=str(shots / "ranking-375.png"), full_page=True)
    for p in ("2", "4", "1"):  # tapping chips places them best-first
        page.locator(f"[data-pool] .chip[data-pos='{p}']").click()
    page.locator("article[data-position='3']").get_by_role("button", name="Rank next").click()  # or on the card
    expect(page.locator("[data-board] .chip")).to_have_text(["2", "4", "1", "3"])
    page.get_by_role("button", name="Submit & next").click()
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()
    assert Ranking.objects.count() == 1


def test_time_on_task_excludes_hidden_tab(live_server, page, page_guard, login, labeler, project, make_ranking_task):
    first, second = make_ranking_task(k=2), make_ranking_task(k=2)
    login(labeler)
    page.clock.install()
    page.goto(_workspace(live_server, project))
    _ready(page)
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.clock.fast_forward("05:00")  # five visible minutes
    page.keyboard.press("Control+Enter")
    expect(page.locator(".task-title")).to_contain_text(f"task {second.pk}")
    _ready(page)
    page.keyboard.press("1")
    page.keyboard.press("2")
    set_visibility = """(state) => {
        Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    page.evaluate(set_visibility, "hidden")
    page.clock.fast_forward("05:00")  # five minutes in another tab
    page.evaluate(set_visibility, "visible")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()
    assert Ranking.objects.get(task=first).time_on_task_ms >= 300_000
    assert Ranking.objects.get(task=second).time_on_task_ms < 60_000


def test_non_member_gets_404_in_page_and_api(live_server, page, page_guard, login, make_user, labeler, project,
                                             make_ranking_task):
    from annotate.services.assignments import task_next_for_labeler

    make_ranking_task(k=2)
    assignment = task_next_for_labeler(user=labeler, project=project)
    login(make_user("outsider"))
    assert page.goto(_workspace(live_server, project)).status == 404
    assert page.request.get(f"{live_server.url}/api/assignments/{assignment.pk}/").status == 404
    assert page.request.get(f"{live_server.url}/api/projects/{project.pk}/progress/").status == 404
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("link", name="Start labelling")).to_have_count(0)


def test_unsent_work_survives_a_reload_and_is_cleared_on_submit(live_server, page, page_guard, login, labeler,
                                                               project, make_ranking_task):
    task = make_ranking_task(k=3)
    login(labeler)
    page.goto(_workspace(live_server, project))
    _ready(page)
    aid = Assignment.objects.get(task=task).pk
    for key in ("2", "1", "Shift+Digit5"):
        page.keyboard.press(key)
    page.locator(f"#candidate-{aid}-3 summary").click()
    page.locator(f"#candidate-{aid}-3").get_by_label("Gives harmful advice").check()
    page.get_by_label("Rationale").fill("Half done")
    page.wait_for_function(f"() => (localStorage.getItem('ranklab:draft:{aid}') || '').includes('Half done')")
    page.reload()
    _ready(page)
    expect(page.locator("[data-draft-note]").first).to_have_text("Your unsent work on this task was restored.")
    expect(page.locator("[data-board] .chip")).to_have_text(["2", "1"])
    expect(page.get_by_label("Rationale")).to_have_value("Half done")
    expect(page.locator("input[name=rating_1][value='5']")).to_be_checked()
    expect(page.locator(f"#candidate-{aid}-3 [data-flag-count]")).to_have_text("(1)")
    page.keyboard.press("3")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()
    pos, _ = _positions_and_order(labeler, task)
    ranking = Ranking.objects.get(task=task)
    assert ranking.tiers == [[pos[2]], [pos[1]], [pos[3]]] and ranking.rationale == "Half done"
    assert ranking.ratings == {str(pos[1]): 5} and ranking.flags == {str(pos[3]): ["harmful_advice"]}
    assert page.evaluate(f"localStorage.getItem('ranklab:draft:{aid}')") is None


def test_the_page_renews_its_lease_and_says_when_the_task_was_lost(live_server, page, page_guard, login, labeler,
                                                                    make_user, project, make_ranking_task):
    """A visible workspace renews its lease every third of the lease time (10 min of the default
    30); once the lease has lapsed and someone else completed the task, the page says so."""
    from datetime import timedelta

    from django.utils import timezone

    from annotate.services.assignments import leases_expire, task_next_for_labeler
    from annotate.services.submissions import RankingInput, ranking_submit
    from labelers.services import membership_set

    task = make_ranking_task(k=2)
    login(labeler)
    page.clock.install()
    page.goto(_workspace(live_server, project))
    _ready(page)
    mine = Assignment.objects.get(labeler=labeler, task=task)
    with page.expect_response(lambda r: r.url.endswith(f"/api/assignments/{mine.pk}/renew/")) as renewal:
        page.clock.fast_forward("10:01")
    assert renewal.value.status == 200
    assert Assignment.objects.get(pk=mine.pk).expires_at > mine.expires_at
    # The lease lapses (say the laptop slept), another labeler takes and completes the task.
    Assignment.objects.filter(pk=mine.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    leases_expire(project=project)
    other = make_user("labeler2")
    membership_set(project=project, user=other)
    theirs = task_next_for_labeler(user=other, project=project)
    ranking_submit(user=other, assignment_id=theirs.pk, data=RankingInput(tiers=[[c] for c in theirs.shown_order]))
    with page.expect_response(lambda r: r.url.endswith(f"/api/assignments/{mine.pk}/renew/")) as renewal:
        page.clock.fast_forward("10:01")
    assert renewal.value.status == 400
    expect(page.locator("#task-form [data-error]")).to_contain_text("other labelers have since completed it")
