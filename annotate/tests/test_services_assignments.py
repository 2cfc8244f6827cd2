"""Leases, overlap, expiry, skips, gold mixing, qualification and pauses, through the services."""
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from annotate.models import Assignment, AssignmentState, Membership, QualificationStatus, Ranking, Task, TaskState
from annotate.services.assignments import assignment_skip, lease_renew, leases_expire, task_next_for_labeler
from annotate.services.submissions import RankingInput, ranking_submit
from labelers.models import AlertKind, LabelerAlert
from labelers.services import membership_set
from labelers.services.gold import task_mark_gold
from labelers.services.quality import membership_resume

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelers(make_user, project):
    def make(n, start=2):
        users = []
        for i in range(start, start + n):
            user = make_user(f"labeler{i}")
            membership_set(project=project, user=user)
            users.append(user)
        return users
    return make


def _rank_as_shown(user, assignment, reverse=False):
    order = list(assignment.shown_order)
    if reverse:
        order.reverse()
    return ranking_submit(user=user, assignment_id=assignment.pk, data=RankingInput(tiers=[[c] for c in order]))


def _rank_by_id(user, assignment, best_first=True):
    ids = sorted(assignment.task.candidate_ids(), reverse=not best_first)
    return ranking_submit(user=user, assignment_id=assignment.pk, data=RankingInput(tiers=[[c] for c in ids]))


def test_live_lease_is_returned_again_and_overlap_caps_leases(project, labeler, labelers, make_ranking_task):
    project.submissions_required = 2
    project.save()
    task = make_ranking_task(k=3)
    first = task_next_for_labeler(user=labeler, project=project)
    assert first.task_id == task.pk and sorted(first.shown_order) == sorted(task.candidate_ids())
    assert task_next_for_labeler(user=labeler, project=project).pk == first.pk
    second, third = labelers(2)
    assert task_next_for_labeler(user=second, project=project).task_id == task.pk
    # Two leases out on a task that needs two: nothing for a third labeler.
    assert task_next_for_labeler(user=third, project=project) is None
    task.refresh_from_db()
    assert task.active_leases == 2 and task.submissions_count == 0


def test_tasks_closest_to_completion_come_first(project, labeler, labelers, make_ranking_task):
    project.submissions_required = 3
    project.save()
    fresh, almost = make_ranking_task(submissions_required=3), make_ranking_task(submissions_required=3)
    for other in labelers(2):
        assignment = task_next_for_labeler(user=other, project=project)
        if assignment.task_id != almost.pk:  # steer both onto `almost`
            assignment_skip(user=other, assignment_id=assignment.pk, reason="steer")
            assignment = task_next_for_labeler(user=other, project=project)
        _rank_as_shown(other, assignment)
    assert task_next_for_labeler(user=labeler, project=project).task_id == almost.pk
    urgent = make_ranking_task(priority=5.0)
    newcomer = labelers(1, start=10)[0]
    assert task_next_for_labeler(user=newcomer, project=project).task_id == urgent.pk
    assert fresh.pk  # never handed out first


def test_lease_expiry_returns_the_task_and_a_late_answer_is_kept_if_still_needed(project, labeler, labelers,
                                                                                  make_ranking_task):
    task = make_ranking_task(k=2)
    mine = task_next_for_labeler(user=labeler, project=project)
    other = labelers(1)[0]
    assert task_next_for_labeler(user=other, project=project) is None
    Assignment.objects.filter(pk=mine.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leases_expire(project=project) == 1
    mine.refresh_from_db()
    assert mine.state == AssignmentState.EXPIRED
    task.refresh_from_db()
    assert task.active_leases == 0
    # Nobody took it yet: the late answer is accepted, not dropped.
    ranking = _rank_as_shown(labeler, mine)
    task.refresh_from_db()
    assert ranking.assignment_id == mine.pk and task.state == TaskState.COMPLETE and task.submissions_count == 1
    assert task.active_leases == 0
    assert task_next_for_labeler(user=other, project=project) is None
    # The same answer again is still the first result.
    assert _rank_as_shown(labeler, mine).pk == ranking.pk and Ranking.objects.count() == 1


def test_lease_renewal_keeps_a_slow_labelers_task(project, labeler, labelers, make_ranking_task):
    project.lease_seconds = 600
    project.save()
    task = make_ranking_task(k=2)
    mine = task_next_for_labeler(user=labeler, project=project)
    later = timezone.now() + timedelta(seconds=500)
    renewed = lease_renew(user=labeler, assignment_id=mine.pk, now=later)
    assert renewed.expires_at == later + timedelta(seconds=600)
    assert Assignment.objects.get(pk=mine.pk).expires_at == later + timedelta(seconds=600)
    # Nobody else may renew it (it is not theirs).
    other = labelers(1)[0]
    with pytest.raises(Assignment.DoesNotExist):
        lease_renew(user=other, assignment_id=mine.pk)
    # Expired and swept, still needed: renewal takes the lease back, counted once.
    Assignment.objects.filter(pk=mine.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leases_expire(project=project) == 1
    assert lease_renew(user=labeler, assignment_id=mine.pk).state == AssignmentState.ACTIVE
    task.refresh_from_db()
    assert task.active_leases == 1 and task_next_for_labeler(user=other, project=project) is None
    # Expired again, and another labeler completed the task: renewal says so at once.
    Assignment.objects.filter(pk=mine.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert leases_expire(project=project) == 1
    _rank_as_shown(other, task_next_for_labeler(user=other, project=project))
    with pytest.raises(ValidationError, match="other labelers have since completed it"):
        lease_renew(user=labeler, assignment_id=mine.pk)
    # Nothing to renew once submitted.
    task2 = make_ranking_task(k=2)
    a2 = task_next_for_labeler(user=labeler, project=project)
    assert a2.task_id == task2.pk
    _rank_as_shown(labeler, a2)
    with pytest.raises(ValidationError, match="already submitted"):
        lease_renew(user=labeler, assignment_id=a2.pk)


def test_expired_lease_leased_again_submits_into_the_new_lease(project, labeler, make_ranking_task):
    make_ranking_task(k=2)
    old = task_next_for_labeler(user=labeler, project=project)
    Assignment.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    new = task_next_for_labeler(user=labeler, project=project)
    assert new.pk != old.pk and new.task_id == old.task_id
    ranking = _rank_as_shown(labeler, old)
    assert ranking.assignment_id == new.pk
    old.refresh_from_db()
    assert old.state == AssignmentState.EXPIRED
    assert Task.objects.get(pk=old.task_id).submissions_count == 1


def test_skipped_task_never_comes_back(project, labeler, make_ranking_task):
    first, second = make_ranking_task(), make_ranking_task()
    assignment = task_next_for_labeler(user=labeler, project=project)
    with pytest.raises(ValidationError, match="Say why you skip"):
        assignment_skip(user=labeler, assignment_id=assignment.pk, reason="  ")
    assignment_skip(user=labeler, assignment_id=assignment.pk, reason="I can't read the language")
    assert Assignment.objects.get(pk=assignment.pk).skip_reason == "I can't read the language"
    nxt = task_next_for_labeler(user=labeler, project=project)
    assert nxt.task_id != assignment.task_id
    assignment_skip(user=labeler, assignment_id=nxt.pk, reason="too long")
    assert task_next_for_labeler(user=labeler, project=project) is None
    with pytest.raises(ValidationError, match="You skipped this task"):
        _rank_as_shown(labeler, nxt)
    assert {first.pk, second.pk} == {assignment.task_id, nxt.task_id}
    for t in (first, second):
        t.refresh_from_db()
        assert t.active_leases == 0 and t.state == TaskState.OPEN


def _make_gold(admin_user, make_ranking_task, screening=False, must_flag=None):
    task = make_ranking_task(k=3)
    ids = sorted(task.candidate_ids())
    answer = {"tiers": [[c] for c in ids]}
    if must_flag:
        answer["must_flag"] = {str(ids[-1]): ["hallucination"]}
    return task_mark_gold(admin=admin_user, task_id=task.pk, gold_answer=answer, is_screening=screening)


def test_gold_answers_are_checked_and_only_admins_mark_gold(project, labeler, admin_user, make_ranking_task):
    task = make_ranking_task(k=3)
    a, b, c = task.candidate_ids()
    with pytest.raises(PermissionDenied, match="Only an admin"):
        task_mark_gold(admin=labeler, task_id=task.pk, gold_answer={"tiers": [[a], [b], [c]]})
    with pytest.raises(ValidationError, match="missing"):
        task_mark_gold(admin=admin_user, task_id=task.pk, gold_answer={"tiers": [[a], [b]]})
    with pytest.raises(ValidationError, match="unknown flag"):
        task_mark_gold(admin=admin_user, task_id=task.pk, gold_answer={"must_flag": {str(a): ["nope"]}})
    with pytest.raises(ValidationError, match="not in this task"):
        task_mark_gold(admin=admin_user, task_id=task.pk, gold_answer={"must_flag": [999999]})
    gold = task_mark_gold(admin=admin_user, task_id=task.pk, gold_answer={"must_flag": [a]})
    assert gold.is_gold and gold.gold_answer == {"must_flag": {str(a): []}}


def test_gold_is_mixed_at_the_configured_rate_and_scored(project, labeler, admin_user, make_ranking_task):
    project.gold_rate = 0.25
    project.pause_below_gold_accuracy = 0
    project.save()
    golds = {_make_gold(admin_user, make_ranking_task).pk for _ in range(60)}
    for _ in range(140):
        make_ranking_task(k=3)
    seen_gold = 0
    for _ in range(100):
        assignment = task_next_for_labeler(user=labeler, project=project)
        assert assignment is not None
        is_gold = assignment.task_id in golds
        seen_gold += is_gold
        # Indistinguishable: same shape of lease, candidates shuffled alike.
        assert len(assignment.shown_order) == 3
        _rank_by_id(labeler, assignment, best_first=True)
    # Binomial(100, 0.25): mean 25, sd 4.3; this band is about 3 sd wide each side.
    assert 12 <= seen_gold <= 38
    from labelers.models import RankingQuality

    scores = list(RankingQuality.objects.filter(labeler=labeler, is_gold=True).values_list("gold_score", flat=True))
    assert len(scores) == seen_gold and all(s == 1.0 for s in scores)
    # Gold tasks never complete: each labeler can do each once.
    assert not Task.objects.filter(pk__in=golds, state=TaskState.COMPLETE).exists()


def test_qualification_gate_screens_before_real_work(project, labeler, labelers, admin_user, make_ranking_task):
    project.qualification_required = True
    project.qualification_pass_mark = 0.8
    project.save()
    real = make_ranking_task(k=3)
    with pytest.raises(PermissionDenied, match="no screening tasks are set up"):
        task_next_for_labeler(user=labeler, project=project)
    screening = {_make_gold(admin_user, make_ranking_task, screening=True).pk for _ in range(3)}
    good, bad = labeler, labelers(1)[0]
    for _ in range(3):
        a = task_next_for_labeler(user=good, project=project)
        assert a.task_id in screening
        _rank_by_id(good, a, best_first=True)
        b = task_next_for_labeler(user=bad, project=project)
        assert b.task_id in screening
        _rank_by_id(bad, b, best_first=False)
    assert Membership.objects.get(user=good).qualification_status == QualificationStatus.PASSED
    assert task_next_for_labeler(user=good, project=project).task_id == real.pk
    membership = Membership.objects.get(user=bad)
    assert membership.qualification_status == QualificationStatus.FAILED and membership.qualification_score == 0
    with pytest.raises(PermissionDenied, match=r"did not pass this project's screening \(score 0%, pass mark 80%\)"):
        task_next_for_labeler(user=bad, project=project)
    alert = LabelerAlert.objects.get(kind=AlertKind.QUALIFICATION_FAILED)
    assert alert.labeler == bad and "scored 0% on the screening set of 3 tasks" in alert.message


def test_low_rolling_gold_accuracy_pauses_and_admins_are_told(project, labeler, admin_user, make_ranking_task):
    project.gold_rate = 1.0
    project.pause_below_gold_accuracy = 0.6
    project.quality_min_samples = 3
    project.save()
    for _ in range(6):
        _make_gold(admin_user, make_ranking_task)
    make_ranking_task(k=3)
    for _ in range(3):
        _rank_by_id(labeler, task_next_for_labeler(user=labeler, project=project), best_first=False)
    membership = Membership.objects.get(user=labeler)
    assert membership.is_paused and "gold accuracy 0% over your last 3 gold tasks is below 60%" in membership.paused_reason
    with pytest.raises(PermissionDenied, match="Your work on this project is paused: gold accuracy 0%"):
        task_next_for_labeler(user=labeler, project=project)
    alert = LabelerAlert.objects.get(kind=AlertKind.PAUSED_GOLD)
    assert alert.labeler == labeler and alert.resolved_at is None
    with pytest.raises(PermissionDenied, match="Only an admin"):
        membership_resume(admin=labeler, project=project, user=labeler)
    membership_resume(admin=admin_user, project=project, user=labeler)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    # A fresh start: the old results do not pause again at the next gold task.
    _rank_by_id(labeler, task_next_for_labeler(user=labeler, project=project), best_first=True)
    assert not Membership.objects.get(user=labeler).is_paused


def test_low_agreement_with_consensus_pauses(project, labeler, labelers, make_ranking_task):
    project.submissions_required = 3
    project.pause_below_agreement = 0.4
    project.quality_min_samples = 2
    project.gold_rate = 0
    project.save()
    for _ in range(2):
        make_ranking_task(k=3)
    agree1, agree2 = labelers(2)
    for _ in range(2):
        _rank_by_id(agree1, task_next_for_labeler(user=agree1, project=project), best_first=True)
        _rank_by_id(agree2, task_next_for_labeler(user=agree2, project=project), best_first=True)
        _rank_by_id(labeler, task_next_for_labeler(user=labeler, project=project), best_first=False)
    assert Membership.objects.get(user=labeler).is_paused
    assert not Membership.objects.get(user=agree1).is_paused
    assert LabelerAlert.objects.get(kind=AlertKind.PAUSED_AGREEMENT).labeler == labeler


def test_non_members_get_nothing(project, make_user, make_ranking_task):
    make_ranking_task()
    stranger = make_user("stranger")
    with pytest.raises(PermissionDenied, match="not a member"):
        task_next_for_labeler(user=stranger, project=project)


@pytest.mark.django_db
def test_a_lease_returns_what_was_stored(project, labeler, make_ranking_task):
    """The assignment a lease returns equals the row in the database (its task with the lease
    counted), and its candidates come in the stored shown order."""
    project.gold_rate = 0
    project.save()
    make_ranking_task(k=4)
    leased = task_next_for_labeler(user=labeler, project=project)
    stored = Assignment.objects.get(pk=leased.pk)
    for field in Assignment._meta.concrete_fields:
        assert getattr(leased, field.attname) == getattr(stored, field.attname), field.name
    for name, model in (("task", Task), ("project", type(project))):
        for field in model._meta.concrete_fields:
            assert getattr(getattr(leased, name), field.attname) == getattr(getattr(stored, name), field.attname), (
                name, field.name)
    assert stored.task.active_leases == 1
    assert sorted(stored.shown_order) == sorted(leased.task.candidate_ids())
    assert leased.task.prompt.conversation == stored.task.prompt.conversation
    from annotate.selectors import candidates_shown

    assert [c.id for c in candidates_shown(assignment=leased)] == stored.shown_order
