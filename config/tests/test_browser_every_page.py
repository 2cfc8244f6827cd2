"""Every page of the product in a real browser, with data on it: axe-core finds no critical or
serious problem, the strict CSP is never violated, no script fails, and every title ends with
"· Ranklab". With RANKLAB_SCREENS=<dir> the main pages are also saved at 1280 px and 375 px."""
import json

import pytest
from playwright.sync_api import expect

from annotate.models import Ranking
from annotate.services.assignments import assignment_skip, task_next_for_labeler
from annotate.services.projects import candidate_create, prompt_create, task_create
from annotate.services.submissions import DemonstrationInput, RankingInput, demonstration_submit, ranking_submit
from exports.models import ExportSnapshot
from exports.services.snapshots import export_start
from jobs.services import job_run
from labelers.services import membership_set
from training.services.rounds import round_start
from training.tests.conftest import tiny_base  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(project, labeler, make_user, admin_user, make_ranking_task, tiny_base):  # noqa: F811
    """A project in use: a task ranked by three labelers, a demonstration, open tasks of each kind,
    a snapshot, jobs, a round and a model."""
    project.submissions_required, project.gold_rate, project.review_sample_rate = 3, 0.0, 1.0
    project.save()
    others = [make_user(name) for name in ("labeler2", "labeler3")]
    for user in others:
        membership_set(project=project, user=user)
    make_ranking_task(k=3, priority=10, texts=["The **sun** rises in the east.", "It rises in the west.",
                                              "It does not rise: the Earth turns."])
    for user, reverse in ((others[0], False), (others[1], False), (labeler, True)):
        a = task_next_for_labeler(user=user, project=project)
        order = list(reversed(a.shown_order)) if reverse else a.shown_order
        ranking_submit(user=user, assignment_id=a.pk, data=RankingInput(tiers=[[c] for c in order], ratings={
            order[0]: 6}, time_on_task_ms=30_000))
    demo_prompt = prompt_create(project=project, conversation="Explain *entropy* in one line.")
    task_create(project=project, prompt=demo_prompt, kind="demonstration", priority=9, submissions_required=1)
    a = task_next_for_labeler(user=others[0], project=project)
    demonstration_submit(user=others[0], assignment_id=a.pk, data=DemonstrationInput(
        text="Entropy counts the **ways** a state can be arranged.", time_on_task_ms=40_000))
    make_ranking_task(k=4, priority=3)
    prompt = prompt_create(project=project, conversation="Write a haiku about tea.")
    task_create(project=project, prompt=prompt, kind="demonstration", priority=2,
                candidates=[candidate_create(prompt=prompt, text="Steam over the cup", source="model")])
    task_create(project=project, prompt=prompt_create(project=project, conversation="Plan a picnic."),
                kind="dialogue", priority=1)
    export = job_run(job_id=export_start(project=project, options={"formats": ["preference", "sft_messages"]},
                                         user=admin_user).pk)
    assert export.status == "succeeded", export.error
    rnd = round_start(project=project, base_policy=tiny_base, user=admin_user)
    return {"project": project, "round": rnd, "export_job": export, "snapshot": ExportSnapshot.objects.get(),
            "ranking": Ranking.objects.filter(labeler=others[0]).first(),
            "demonstration": a.task.demonstrations.first(), "model": tiny_base}


def _check(page, page_guard, url, screenshot=None, name=None):
    page.goto(url)
    page.wait_for_load_state("networkidle")
    title = page.title()
    assert title.endswith("· Ranklab"), f"{url}: title {title!r}"
    page_guard.axe()
    if screenshot and name:
        screenshot(name)


def test_every_page_passes_axe_and_the_csp(live_server, page, page_guard, login, site, admin_user, labeler,
                                           screenshot):
    base = live_server.url
    p = site["project"].pk
    _check(page, page_guard, f"{base}/accounts/login/")
    login(admin_user)
    for path, name in [
        ("/", "home"), ("/projects/new/", None), (f"/projects/{p}/settings/", None),
        (f"/labelers/projects/{p}/members/", None), (f"/labelers/projects/{p}/", "quality"),
        (f"/labelers/projects/{p}/review/", "review-queue"),
        (f"/labelers/projects/{p}/review/ranking/{site['ranking'].pk}/", "review"),
        (f"/labelers/projects/{p}/review/demonstration/{site['demonstration'].pk}/", None),
        (f"/exports/projects/{p}/", "exports"), (f"/exports/{site['snapshot'].pk}/", "snapshot"),
        (f"/exports/jobs/{site['export_job'].pk}/", None), ("/jobs/", "jobs"), (f"/jobs/{site['export_job'].pk}/", None),
        (f"/rounds/?project={p}", "rounds"), (f"/rounds/{site['round'].pk}/", "round"),
        ("/training/models/", "models"), (f"/training/models/{site['model'].pk}/", None),
        ("/training/models/lineage/", None), ("/training/generate/", "generate"), ("/training/playground/", None),
        ("/no-such-page/", "not-found"),
    ]:
        _check(page, page_guard, base + path, screenshot, name)

    login(labeler)
    workspace = f"{base}/projects/{p}/work/"
    _check(page, page_guard, f"{base}/labelers/projects/{p}/calibration/", screenshot, "calibration")
    expect(page.get_by_text("Consensus of the 2 other labelers")).to_be_visible()
    for kind in ("ranking", "demonstration", "dialogue"):
        _check(page, page_guard, workspace)
        expect(page.locator(f"#workspace form[data-task-form={kind}][data-mounted]")).to_have_count(1)
        page.keyboard.press("?")
        expect(page.locator("#keymap")).to_be_visible()
        page_guard.axe()
        page.keyboard.press("Escape")
        assignment = task_next_for_labeler(user=labeler, project=site["project"])
        assignment_skip(user=labeler, assignment_id=assignment.pk, reason="to see the next kind")
    _check(page, page_guard, workspace)
    expect(page.get_by_role("heading", name="No work available right now")).to_be_visible()
    _check(page, page_guard, f"{base}/projects/new/")  # 403 for a labeler, styled
    expect(page.get_by_role("link", name="Back to your projects")).to_be_visible()


def test_checkboxes_sit_beside_their_labels(live_server, page, page_guard, login, admin_user, project):
    login(admin_user)
    for path in (f"/exports/projects/{project.pk}/", f"/rounds/?project={project.pk}", "/projects/new/"):
        page.goto(live_server.url + path)
        boxes = page.locator("main input[type=checkbox]:visible")
        assert boxes.count() >= 1, path
        for i in range(boxes.count()):
            box = boxes.nth(i)
            label = page.locator(f"label[for='{box.get_attribute('id')}']") if box.get_attribute("id") else None
            if label is None or label.count() == 0:
                label = box.locator("xpath=ancestor::label[1]")
            b, t = box.bounding_box(), label.bounding_box()
            text = json.dumps(label.inner_text())
            assert b["width"] < 40, f"{path}: checkbox {text} is {b['width']} px wide"
            assert t["y"] - 12 <= b["y"] <= t["y"] + t["height"], f"{path}: checkbox {text} is not on its label's line"
            assert abs(b["x"] - t["x"]) < 60 or t["x"] <= b["x"] <= t["x"] + 40, f"{path}: {text} stands apart"


def test_pages_fit_a_phone_and_the_header_says_who_is_signed_in(live_server, page, page_guard, login, site,
                                                                  admin_user):
    """On a 375 px phone no page scrolls sideways (a wide table scrolls inside its own box), and
    the header reads "admin  Log out", the name apart from the button, not "Log outadmin"."""
    page.set_viewport_size({"width": 375, "height": 812})
    login(admin_user)
    p = site["project"].pk
    for path in ("/", "/jobs/", f"/rounds/?project={p}", f"/rounds/{site['round'].pk}/",
                 f"/labelers/projects/{p}/members/", f"/labelers/projects/{p}/review/", f"/labelers/projects/{p}/",
                 f"/exports/projects/{p}/", f"/exports/{site['snapshot'].pk}/", "/projects/new/", "/training/models/",
                 "/labelers/tokens/"):
        page.goto(live_server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate("""[...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 376)
            .slice(0, 3).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 40))""")
        assert width <= 375, f"{path} is {width} px wide on a 375 px phone: {wide}"
    expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()
    expect(page.locator("header .logout .who")).to_have_text("admin")
    who, button = (page.locator(sel).bounding_box() for sel in ("header .logout .who", "header .logout button"))
    assert who["x"] + who["width"] < button["x"], "the name stands apart from the button"
    page_guard.axe()
