"""Review queue, calibration feedback and labeler stats, through services, the REST API and
the HTML pages."""
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from annotate.models import Ranking, ReviewStatus, Task, TaskState
from annotate.services.assignments import assignment_skip, task_next_for_labeler
from annotate.services.submissions import RankingInput, ranking_submit
from labelers.selectors.calibration import calibration_for_labeler
from labelers.selectors.review import review_queue
from labelers.selectors.stats import labeler_stats, project_quality
from labelers.services import membership_set
from labelers.services.gold import task_mark_gold
from labelers.services.review import submission_review

pytestmark = pytest.mark.django_db


def _submit(user, project, best_first=True, ms=30_000):
    assignment = task_next_for_labeler(user=user, project=project)
    assert assignment is not None
    ids = sorted(assignment.task.candidate_ids(), reverse=not best_first)
    return ranking_submit(user=user, assignment_id=assignment.pk, data=RankingInput(
        tiers=[[c] for c in ids], ratings={c: 7 - 2 * i for i, c in enumerate(ids)}, time_on_task_ms=ms))


@pytest.fixture
def crew(project, labeler, make_user, admin_user, make_ranking_task):
    """Overlap 3 on 2 tasks: two labelers rank by id, one ("contrarian") in reverse; plus a
    gold task everybody ranks, and a reviewer."""
    project.submissions_required = 3
    project.gold_rate = 0
    project.review_sample_rate = 0
    project.pause_below_gold_accuracy = 0
    project.save()
    tasks = [make_ranking_task(k=3) for _ in range(2)]
    gold = make_ranking_task(k=3)
    ids = sorted(gold.candidate_ids())
    task_mark_gold(admin=admin_user, task_id=gold.pk, gold_answer={"tiers": [[c] for c in ids]})
    second = make_user("labeler2")
    contrarian = make_user("contrarian")
    reviewer = make_user("rev", role="reviewer")
    for user in (second, contrarian):
        membership_set(project=project, user=user)
    membership_set(project=project, user=reviewer, role="reviewer")
    for _ in range(2):
        _submit(labeler, project)
        _submit(second, project)
        _submit(contrarian, project, best_first=False)
    # The gold task: only reachable through the gold mix.
    project.gold_rate = 1.0
    project.save()
    for user, best in ((labeler, True), (second, True), (contrarian, False)):
        _submit(user, project, best_first=best)
    project.gold_rate = 0
    project.save()
    return {"tasks": tasks, "gold": gold, "second": second, "contrarian": contrarian, "reviewer": reviewer}


def test_stats_per_labeler_and_project(project, labeler, crew):
    rows = {r["username"]: r for r in labeler_stats(project=project)}
    good, bad = rows["labeler1"], rows["contrarian"]
    assert good["tasks_done"] == 3 and good["skips"] == 0 and good["rejected"] == 0
    assert good["gold_tasks"] == 1 and good["gold_accuracy"] == 1.0 and bad["gold_accuracy"] == 0.0
    # Against the others' consensus: for labeler1 the other two disagree, so every pair is tied (½).
    assert bad["consensus_agreement"] == 0.0
    assert good["consensus_agreement"] == pytest.approx(0.5)
    assert good["peer_agreement"] == pytest.approx(0.5) and bad["peer_agreement"] == 0.0
    assert good["median_seconds_per_task"] == 30.0 and good["throughput_per_hour"] == 120.0
    summary = project_quality(project=project)
    assert summary["tasks"] == 2 and summary["tasks_complete"] == 2 and summary["gold_tasks"] == 1
    # 2 tasks x 3 labeler pairs x 3 candidate pairs = 18 pairs; only labeler1~labeler2 agree (6).
    assert summary["pairwise_agreement"] == pytest.approx(6 / 18, abs=1e-4)
    # Ratings follow the rankings: two labelers agree, the third is reversed → alpha well below 1.
    assert summary["ratings_alpha"] is not None and -1 < summary["ratings_alpha"] < 0.5


def test_reject_reopens_the_task_and_the_labeler_sees_the_comment(project, labeler, crew, make_user):
    task = crew["tasks"][0]
    bad = Ranking.objects.get(task=task, labeler=crew["contrarian"])
    reviewer = crew["reviewer"]
    with pytest.raises(PermissionDenied, match="Only reviewers and admins"):
        submission_review(reviewer=labeler, kind="ranking", submission_id=bad.pk, decision="rejected", comment="x")
    with pytest.raises(ValidationError, match="Say why you reject"):
        submission_review(reviewer=reviewer, kind="ranking", submission_id=bad.pk, decision="rejected", comment=" ")
    submission_review(reviewer=reviewer, kind="ranking", submission_id=bad.pk, decision="rejected",
                      comment="You ranked the best answer last; read guideline 3.")
    task.refresh_from_db()
    assert task.state == TaskState.OPEN and task.submissions_count == 2
    with pytest.raises(ValidationError, match="rejection is final"):
        submission_review(reviewer=reviewer, kind="ranking", submission_id=bad.pk, decision="accepted")
    # The task goes to a new labeler, never back to the one rejected.
    assert task_next_for_labeler(user=crew["contrarian"], project=project) is None
    newcomer = make_user("newcomer")
    membership_set(project=project, user=newcomer)
    ranking = _submit(newcomer, project)
    assert ranking.task_id == task.pk
    task.refresh_from_db()
    assert task.state == TaskState.COMPLETE and task.submissions_count == 3
    # The rejected labeler sees the comment, over the selector, the API and the page.
    feedback = calibration_for_labeler(project=project, user=crew["contrarian"])
    assert feedback["reviews"][0]["comment"] == "You ranked the best answer last; read guideline 3."
    client = APIClient()
    client.force_authenticate(crew["contrarian"])
    data = client.get(f"/api/projects/{project.pk}/calibration/").json()
    assert data["reviews"][0]["status"] == "rejected"
    client.force_login(crew["contrarian"])
    page = client.get(f"/labelers/projects/{project.pk}/calibration/")
    assert "read guideline 3." in page.content.decode()
    # Rejected submissions do not count in the stats.
    rows = {r["username"]: r for r in labeler_stats(project=project)}
    assert rows["contrarian"]["rejected"] == 1 and rows["contrarian"]["tasks_done"] == 2


def test_review_over_the_api(project, crew):
    ranking = Ranking.objects.filter(labeler=crew["second"]).first()
    client = APIClient()
    client.force_authenticate(crew["contrarian"])
    r = client.post(f"/api/submissions/ranking/{ranking.pk}/review/", {"decision": "accepted"}, format="json")
    assert r.status_code == 403 and "Only reviewers and admins" in r.json()["detail"]
    client.force_authenticate(crew["reviewer"])
    r = client.post(f"/api/submissions/ranking/{ranking.pk}/review/", {"decision": "rejected"}, format="json")
    assert r.status_code == 400 and "Say why you reject" in str(r.json())
    r = client.post(f"/api/submissions/ranking/{ranking.pk}/review/", {"decision": "accepted", "comment": "ok"},
                    format="json")
    assert r.status_code == 200 and r.json()["review_status"] == "accepted"
    assert client.post("/api/submissions/ranking/999999/review/", {"decision": "accepted"},
                       format="json").status_code == 404
    assert client.post("/api/submissions/poem/1/review/", {"decision": "accepted"}, format="json").status_code == 400


def test_review_queue_flags_low_agreement_and_samples(project, labeler, crew):
    reviewer = crew["reviewer"]
    flagged = review_queue(project=project, reviewer=reviewer, mode="flagged")
    contrarian_rankings = set(Ranking.objects.filter(labeler=crew["contrarian"]).values_list("pk", flat=True))
    assert {i["id"] for i in flagged} == contrarian_rankings  # 2 tasks at 0 %, gold at 0 %
    assert all(i["reason"] == "flagged" and i["score"] == 0.0 for i in flagged)
    assert review_queue(project=project, reviewer=reviewer, mode="sampled") == []
    project.review_sample_rate = 1.0
    project.save()
    sampled = review_queue(project=project, reviewer=reviewer, mode="sampled")
    assert len(sampled) == Ranking.objects.count()
    both = review_queue(project=project, reviewer=reviewer)
    assert len(both) == Ranking.objects.count() and both[0]["reason"] == "flagged"
    # Reviewers never see their own submissions; labelers cannot open the queue.
    client = APIClient()
    client.force_authenticate(labeler)
    assert client.get(f"/api/projects/{project.pk}/review-queue/").status_code == 403
    client.force_authenticate(reviewer)
    r = client.get(f"/api/projects/{project.pk}/review-queue/?mode=flagged")
    assert r.status_code == 200 and {i["id"] for i in r.json()} == contrarian_rankings
    assert client.get(f"/api/projects/{project.pk}/review-queue/?mode=bogus").status_code == 400


def test_calibration_shows_where_a_labeler_differs(project, crew):
    feedback = calibration_for_labeler(project=project, user=crew["contrarian"])
    assert feedback["summary"]["agreement_with_consensus"] == 0.0 and feedback["summary"]["gold_accuracy"] == 0.0
    by_task = {i["task"].pk: i for i in feedback["items"]}
    gold_item = by_task[crew["gold"].pk]
    assert gold_item["gold_score"] == 0.0 and len(gold_item["gold_diffs"]) == 3
    task_item = by_task[crew["tasks"][0].pk]
    assert task_item["agreement"] == 0.0 and len(task_item["consensus_diffs"]) == 3
    assert " > " in task_item["mine"] and task_item["others"] == 2


def test_stats_api_shows_labelers_only_their_own_row(project, labeler, crew, admin_user, make_user):
    client = APIClient()
    client.force_authenticate(labeler)
    rows = client.get(f"/api/projects/{project.pk}/labeler-stats/").json()
    assert [r["username"] for r in rows] == ["labeler1"]
    assert client.get(f"/api/projects/{project.pk}/quality/").status_code == 403
    client.force_authenticate(admin_user)
    rows = client.get(f"/api/projects/{project.pk}/labeler-stats/").json()
    assert {"labeler1", "labeler2", "contrarian"} <= {r["username"] for r in rows}
    quality = client.get(f"/api/projects/{project.pk}/quality/").json()
    assert quality["pairwise_agreement"] == pytest.approx(6 / 18, abs=1e-4)
    stranger = make_user("stranger")
    client.force_authenticate(stranger)
    assert client.get(f"/api/projects/{project.pk}/labeler-stats/").status_code == 404
    consensus = APIClient()
    consensus.force_authenticate(crew["reviewer"])
    data = consensus.get(f"/api/tasks/{crew['tasks'][0].pk}/consensus/").json()
    assert data["method"] == "ranked pairs (Tideman)" and data["rankings"] == 3


def test_gold_and_pause_controls_over_the_api(project, labeler, crew, admin_user, make_ranking_task):
    task = make_ranking_task(k=2)
    a, b = task.candidate_ids()
    client = APIClient()
    client.force_authenticate(labeler)
    assert client.post(f"/api/tasks/{task.pk}/gold/", {"gold_answer": {"tiers": [[a], [b]]}},
                       format="json").status_code == 403
    client.force_authenticate(admin_user)
    r = client.post(f"/api/tasks/{task.pk}/gold/", {"gold_answer": {"tiers": [[a]]}}, format="json")
    assert r.status_code == 400 and "missing" in str(r.json())
    r = client.post(f"/api/tasks/{task.pk}/gold/", {"gold_answer": {"tiers": [[a], [b]]}, "is_screening": True},
                    format="json")
    assert r.status_code == 200 and Task.objects.get(pk=task.pk).is_screening
    from labelers.services.quality import membership_pause

    membership_pause(project=project, user=labeler, kind="paused_gold", reason="test")
    alerts = client.get(f"/api/projects/{project.pk}/alerts/").json()
    assert alerts[0]["labeler"] == "labeler1" and alerts[0]["kind"] == "paused_gold"
    r = client.post(f"/api/projects/{project.pk}/labelers/{labeler.pk}/resume/")
    assert r.status_code == 200 and r.json()["is_paused"] is False
    assert client.get(f"/api/projects/{project.pk}/alerts/").json() == []
    r = client.post(f"/api/projects/{project.pk}/labelers/{labeler.pk}/qualification/", {"passed": True},
                    format="json")
    assert r.json()["qualification_status"] == "passed"


def test_admin_pages_render_plots_and_escape_names(project, labeler, crew, admin_user, make_user):
    evil = make_user('<img src=x onerror="alert(1)">')
    membership_set(project=project, user=evil)
    assignment = task_next_for_labeler(user=evil, project=project)
    assert assignment is None or assignment_skip(user=evil, assignment_id=assignment.pk, reason="nope")
    client = APIClient()
    client.force_login(admin_user)
    page = client.get(f"/labelers/projects/{project.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("<svg") == 6 and "Gold accuracy" in html and "Agreement with the other labelers" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert " style=" not in html and "<script" not in html  # the CSP forbids both
    queue = client.get(f"/labelers/projects/{project.pk}/review/?mode=flagged")
    assert queue.status_code == 200
    bad = Ranking.objects.filter(labeler=crew["contrarian"]).first()
    url = f"/labelers/projects/{project.pk}/review/ranking/{bad.pk}/"
    assert client.get(url).status_code == 200
    r = client.post(url, {"decision": "rejected", "comment": ""})
    assert r.status_code == 400 and "Say why you reject" in r.content.decode()
    r = client.post(url, {"decision": "rejected", "comment": "Reversed order."})
    assert r.status_code == 302
    assert Ranking.objects.get(pk=bad.pk).review_status == ReviewStatus.REJECTED
    # Labelers cannot open the admin pages; strangers do not even see the project.
    client.force_login(labeler)
    assert client.get(f"/labelers/projects/{project.pk}/").status_code == 403
    assert client.get(f"/labelers/projects/{project.pk}/calibration/").status_code == 200
    client.force_login(make_user("stranger"))
    assert client.get(f"/labelers/projects/{project.pk}/calibration/").status_code == 404


def test_labeler_report_command(project, crew):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("labeler_report", "--project", project.name, "--expire-leases", stdout=out)
    text = out.getvalue()
    assert "2/2 tasks complete, agreement 33.3% (ties ½)" in text and "contrarian" in text
    with pytest.raises(CommandError, match="No project named or numbered 'nope'"):
        call_command("labeler_report", "--project", "nope")


def test_admin_makes_a_reviewed_task_gold_from_its_consensus(project, crew, admin_user):
    from django.test import Client

    task = crew["tasks"][1]
    ranking = Ranking.objects.get(task=task, labeler=crew["contrarian"])
    client = Client()
    client.force_login(crew["reviewer"])
    url = f"/labelers/projects/{project.pk}/review/ranking/{ranking.pk}/gold/"
    assert client.post(url, {"answer": "consensus"}).status_code == 403
    client.force_login(admin_user)
    page = client.get(url.removesuffix("gold/")).content.decode()
    assert page.count("Use this task as a gold task") == 1
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title == f"Review ranking {ranking.pk} · Ranklab"
    r = client.post(url, {"answer": "consensus", "is_screening": "1"})
    assert r.status_code == 302
    task.refresh_from_db()
    ids = sorted(task.candidate_ids())
    # The other two labelers ranked by id: their consensus is the gold answer, not the contrarian's.
    assert task.is_gold and task.is_screening and task.gold_answer == {"tiers": [[c] for c in ids]}


def test_gold_and_real_tasks_look_the_same_over_the_api(project, labeler, admin_user, make_ranking_task):
    project.gold_rate = 1.0
    project.save()
    gold = make_ranking_task(k=3)
    a, b, c = gold.candidate_ids()
    task_mark_gold(admin=admin_user, task_id=gold.pk, gold_answer={"tiers": [[a], [b], [c]]})
    real = make_ranking_task(k=3)
    client = APIClient()
    client.force_authenticate(labeler)
    seen = []
    for _ in range(2):
        body = client.post(f"/api/projects/{project.pk}/assignments/next/").json()["assignment"]
        seen.append(body)
        ids = [x["id"] for x in body["candidates"]]
        assert client.post(f"/api/assignments/{body['id']}/ranking/", {"tiers": [[i] for i in ids]},
                           format="json").status_code == 201
    assert {s["task"] for s in seen} == {gold.pk, real.pk}
    first, second = seen
    # Same fields, same kinds of values: nothing says "gold".
    assert set(first) == set(second) and "gold" not in str(first).lower() + str(second).lower()
    assert set(first["candidates"][0]) == set(second["candidates"][0])


def test_only_members_are_labelers_of_a_project_for_the_api_and_the_pages(project, admin_user, make_user):
    """One rule (labelers.selectors.access.project_member) for the API and the members page: a
    site admin who is no member of the project is not one of its labelers (404), as a stranger."""
    client = APIClient()
    client.force_authenticate(admin_user)
    other_admin = make_user("admin2", role="admin")
    for path in ("resume/", "qualification/"):
        r = client.post(f"/api/projects/{project.pk}/labelers/{other_admin.pk}/{path}", {"passed": True},
                        format="json")
        assert r.status_code == 404 and r.json() == {"detail": "No such labeler in this project."}
    from django.test import Client

    page = Client()
    page.force_login(admin_user)
    assert page.post(f"/labelers/projects/{project.pk}/members/{other_admin.pk}/",
                     {"action": "pause"}).status_code == 404


def test_calibration_says_why_a_consensus_of_one_other_labeler_is_hidden(project, labeler, make_user,
                                                                         make_ranking_task):
    """With overlap 2 the "consensus" would be the other labeler's own ranking: the API sends none,
    and says why, as the page does."""
    project.submissions_required = 2
    project.gold_rate = 0
    project.save()
    task = make_ranking_task(k=3)
    other = make_user("other")
    membership_set(project=project, user=other)
    _submit(labeler, project)
    _submit(other, project, best_first=False)
    client = APIClient()
    client.force_authenticate(labeler)
    [item] = client.get(f"/api/projects/{project.pk}/calibration/").json()["items"]
    assert item["task"] == task.pk and item["consensus"] is None and item["consensus_differences"] == []
    assert item["consensus_hidden_reason"].startswith("Only one other labeler has ranked this task")
    client.force_login(labeler)
    page = client.get(f"/labelers/projects/{project.pk}/calibration/").content.decode()
    assert item["consensus_hidden_reason"].split(":")[0] in page and "data-consensus-hidden" in page


def test_a_labeler_paused_by_someone_elses_submission_hands_back_the_task_they_hold(
        project, labeler, make_user, make_ranking_task, django_capture_on_commit_callbacks):
    """Agreement is checked when a task completes, in the submission of whoever completed it: the
    labelers it pauses may hold a lease on another task, which then goes back to the pool (their
    answer to it is refused while paused) instead of sitting out its lease."""
    from annotate.models import Assignment, AssignmentState, Membership, Task
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.submissions import RankingInput, ranking_submit
    from labelers.services import membership_set

    project.submissions_required, project.gold_rate = 2, 0
    project.pause_below_agreement, project.quality_min_samples = 0.9, 1
    project.save()
    first = make_ranking_task(k=2, submissions_required=2)
    other = make_user("other")
    membership_set(project=project, user=other)
    mine = task_next_for_labeler(user=labeler, project=project)
    assert mine.task_id == first.pk
    ranking_submit(user=labeler, assignment_id=mine.pk, data=RankingInput(tiers=[[c] for c in mine.shown_order]))
    second = make_ranking_task(k=2, submissions_required=2)
    held = task_next_for_labeler(user=labeler, project=project)
    assert held.task_id == second.pk
    theirs = task_next_for_labeler(user=other, project=project)
    assert theirs.task_id == first.pk
    with django_capture_on_commit_callbacks(execute=True):
        ranking_submit(user=other, assignment_id=theirs.pk,
                       data=RankingInput(tiers=[[c] for c in reversed(mine.shown_order)]))
    assert Membership.objects.get(user=labeler, project=project).is_paused
    assert Assignment.objects.get(pk=held.pk).state == AssignmentState.EXPIRED
    assert Task.objects.get(pk=second.pk).active_leases == 0
