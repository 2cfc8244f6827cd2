"""The admin's labeler dashboard, a reviewer's rejection and the labeler's calibration page in
a real browser (Chromium), with the strict CSP: no violation, no script error."""
import pytest
from playwright.sync_api import expect

from annotate.models import Ranking, ReviewStatus
from annotate.services.assignments import task_next_for_labeler
from annotate.services.submissions import RankingInput, ranking_submit
from labelers.services import membership_set


@pytest.mark.django_db(transaction=True)
def test_dashboard_review_and_calibration_in_a_browser(live_server, guarded_page, login, project, labeler,
                                                         make_user, admin_user, make_ranking_task):
    page = guarded_page
    project.submissions_required = 2
    project.gold_rate = 0
    project.save()
    make_ranking_task(k=3)
    other = make_user("labeler2")
    reviewer = make_user("rev", role="reviewer")
    membership_set(project=project, user=other)
    membership_set(project=project, user=reviewer, role="reviewer")
    for user, best_first in ((labeler, True), (other, False)):
        a = task_next_for_labeler(user=user, project=project)
        ids = sorted(a.task.candidate_ids(), reverse=not best_first)
        ranking_submit(user=user, assignment_id=a.pk, data=RankingInput(tiers=[[c] for c in ids],
                                                                         time_on_task_ms=20_000))
    login(admin_user)
    page.goto(f"{live_server.url}/labelers/projects/{project.pk}/")
    expect(page.get_by_role("heading", name="Labelers and label quality")).to_be_visible()
    expect(page.locator("svg.chart")).to_have_count(6)
    expect(page.get_by_role("img", name="Gold accuracy")).to_be_visible()
    expect(page.get_by_role("cell", name="labeler2")).to_be_visible()

    login(reviewer)
    page.goto(f"{live_server.url}/labelers/projects/{project.pk}/review/?mode=flagged")
    page.get_by_role("link", name="Review").first.click()
    expect(page.get_by_role("heading", name="Review ranking")).to_be_visible()
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("alert")).to_contain_text("Say why you reject")
    page.get_by_label("Comment for the labeler").fill("Candidate A answers the question; C does not.")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text("rejected")
    rejected = Ranking.objects.get(review_status=ReviewStatus.REJECTED)
    expect(page.get_by_role("cell", name=f"ranking {rejected.pk} ")).to_have_count(0)

    login(rejected.labeler)
    page.goto(f"{live_server.url}/labelers/projects/{project.pk}/calibration/")
    expect(page.get_by_text("Candidate A answers the question; C does not.")).to_be_visible()
