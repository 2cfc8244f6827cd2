"""An admin sets up a project in a real browser (Chromium, strict CSP, axe-core): creates it
with the product's own form, previews the guidelines, adds a flag, sees every error at once,
then creates a labeler account and manages members — no Django admin involved."""
import pytest
from playwright.sync_api import expect

from annotate.models import Membership, Project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_creates_a_project_and_its_members(live_server, page, page_guard, login, admin_user, make_user,
                                                 screenshot):
    make_user("carol")
    login(admin_user)
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="New project").click()
    expect(page).to_have_title("New project · Ranklab")
    page_guard.axe()
    expect(page.get_by_role("checkbox", name="Ranking")).to_be_checked()
    expect(page.get_by_label("Candidates per ranking task (K)")).to_have_value("4")
    screenshot("project-form")

    # Everything wrong at once: no name, no kind, K out of range.
    page.get_by_role("checkbox", name="Ranking").uncheck()
    page.get_by_label("Candidates per ranking task (K)").fill("12")
    page.get_by_role("button", name="Create project").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Please fix 3 things")
    expect(summary).to_contain_text("Choose at least one kind of task")
    expect(summary).to_contain_text("2 to 9 candidates")
    page_guard.axe()

    page.get_by_label("Name", exact=True).fill("Support answers")
    page.get_by_role("checkbox", name="Ranking").check()
    page.get_by_role("checkbox", name="Demonstration", exact=True).check()
    page.get_by_label("Candidates per ranking task (K)").fill("3")
    page.get_by_label("Guidelines").fill("# Be kind\n\nPrefer **short** answers.")
    page.get_by_role("button", name="Preview guidelines").click()
    expect(page.locator("#guidelines-preview strong")).to_have_text("short")
    page.get_by_role("button", name="Add a flag").click()
    rows = page.locator("[data-rows-body] [data-row]")
    new_row = rows.last
    expect(new_row.locator("input").first).to_be_focused()
    new_row.locator("input").first.fill("Rude tone")
    page.get_by_role("button", name="Remove flag 1", exact=True).click()  # drop "Fails to follow…"
    page.get_by_label("Gold rate (%)").fill("5")
    page.get_by_role("button", name="Create project").click()

    expect(page.get_by_role("heading", name="Members of Support answers")).to_be_visible()
    project = Project.objects.get(name="Support answers")
    assert project.k == 3 and sorted(project.task_kinds) == ["demonstration", "ranking"]
    assert project.gold_rate == pytest.approx(0.05)
    assert project.flags[0]["key"] == "hallucination" and project.flags[-1] == {"key": "rude_tone", "label": "Rude tone"}

    page.get_by_label("Username", exact=True).last.fill("dana")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Account created: dana")).to_be_visible()
    password = page.get_by_test_id("new-password").inner_text()
    assert len(password) >= 16
    page.locator("#id_add-username").fill("carol")
    page.locator("#id_add-role").select_option("reviewer")
    page.get_by_role("button", name="Add member").click()
    carol = page.locator("tr[data-member=carol]")
    expect(carol.get_by_label("Role of carol")).to_have_value("reviewer")
    assert password not in page.content()
    dana = page.locator("tr[data-member=dana]")
    dana.get_by_role("button", name="Pause dana").click()
    expect(dana).to_contain_text("Paused")
    screenshot("members")
    page_guard.axe()
    page_guard.expect_dialog(f"Remove dana from {project.name}? Their submissions stay.")
    page.locator("tr[data-member=dana]").get_by_role("button", name="Remove dana").click()
    expect(page.locator("tr[data-member=dana]")).to_have_count(0)
    assert not Membership.objects.filter(project=project, user__username="dana").exists()
    assert Membership.objects.get(project=project, user__username="carol").role == "reviewer"

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Gold rate (%)")).to_have_value("5")
    page_guard.axe()
