"""The rounds pages in a real browser (Chromium, strict CSP): an admin starts the next round from
the form, lands on its dashboard (which polls while the round runs), cancels it, and sees what
to do next — without a CSP violation or a script error."""
import pytest
from playwright.sync_api import expect

from training.models import Round, RoundStatus
from training.tests.test_rounds_pages import urlpatterns  # noqa: F401 (rounds/ mounted)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


def test_start_watch_and_cancel_a_round(live_server, page, page_guard, login, admin_user, project,
                                        tiny_base):
    login(admin_user)
    page.goto(f"{live_server.url}/rounds/?project={project.pk}")
    form = page.locator("#round-start")
    form.get_by_label("Method").select_option("rloo")
    form.get_by_label("Start from").select_option(str(tiny_base.pk))
    form.get_by_label("Queue order").select_option("rm_uncertainty")
    form.get_by_label("Prompts to generate for").fill("5")
    form.get_by_role("button", name="Start next round").click()

    expect(page.get_by_role("heading", name="Round 1 of Test project")).to_be_visible()
    rnd = Round.objects.get()
    assert rnd.method == "rloo" and rnd.queue_mode == "rm_uncertainty"
    assert rnd.params["generation"]["n_prompts"] == 5 and rnd.params["policy_config"]["num_generations"] == 4
    steps = page.locator("ol.round-steps li")
    expect(steps).to_have_count(7)
    expect(steps.first).to_contain_text("Export snapshot")
    expect(steps.first.get_by_role("link", name=f"job {rnd.export_job_id}")).to_be_visible()
    expect(page.locator("#round-live")).to_have_attribute("hx-trigger", "every 2s")

    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_contain_text("Retry to run it again")
    expect(page.get_by_role("button", name="Retry from “Export snapshot”")).to_be_visible()
    assert Round.objects.get().status == RoundStatus.CANCELLED
    expect(page.locator("#round-live")).not_to_have_attribute("hx-trigger", "every 2s")

    page.get_by_role("link", name="← Rounds of Test project").click()
    expect(page.get_by_role("link", name="Round 1")).to_be_visible()
    expect(page.get_by_text("Cancelled")).to_be_visible()
