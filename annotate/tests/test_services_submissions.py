"""The foundation's invariants on submissions, each with its message."""
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from annotate.models import Assignment, Ranking, TaskState
from annotate.services.assignments import task_next_for_labeler
from annotate.services.submissions import RankingInput, ranking_submit

pytestmark = pytest.mark.django_db


def _lease(labeler, project):
    assignment = task_next_for_labeler(user=labeler, project=project)
    assert assignment is not None
    return assignment


def test_ranking_must_cover_exactly_the_candidates_each_once(labeler, project, make_ranking_task):
    task = make_ranking_task(k=4)
    a, b, c, d = task.candidate_ids()
    assignment = _lease(labeler, project)
    with pytest.raises(ValidationError, match=rf"exactly the task's candidates.*missing \[{d}\]"):
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a], [b], [c]]))
    with pytest.raises(ValidationError, match="more than once"):
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a], [b], [c], [d, a]]))
    with pytest.raises(ValidationError, match=r"unknown \[999999\]"):
        ranking_submit(user=labeler, assignment_id=assignment.pk,
                       data=RankingInput(tiers=[[a], [b], [c], [d], [999999]]))
    assert not Ranking.objects.exists()
    ranking = ranking_submit(user=labeler, assignment_id=assignment.pk,
                             data=RankingInput(tiers=[[c], [a, b], [d]], ratings={a: 5}, flags={d: ["hallucination"]}))
    assert ranking.tiers == [[c], [a, b], [d]]
    assert ranking.ratings == {str(a): 5} and ranking.flags == {str(d): ["hallucination"]}
    task.refresh_from_db()
    assert task.submissions_count == 1 and task.state == TaskState.COMPLETE and task.active_leases == 0


def test_submission_cannot_be_changed(labeler, project, make_ranking_task):
    task = make_ranking_task(k=2)
    a, b = task.candidate_ids()
    assignment = _lease(labeler, project)
    first = ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a], [b]]))
    # The same answer again is idempotent: the first result, nothing new stored.
    again = ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a], [b]]))
    assert again.pk == first.pk and Ranking.objects.count() == 1
    with pytest.raises(ValidationError, match="cannot be changed"):
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[b], [a]]))
    first.rationale = "edited"
    with pytest.raises(ValidationError, match="cannot be changed"):
        first.save()
    assert Ranking.objects.get().tiers == [[a], [b]]


def test_cannot_submit_someone_elses_or_an_expired_and_completed_assignment(make_user, labeler, project,
                                                                            make_ranking_task):
    from labelers.services import membership_set

    task = make_ranking_task(k=2)
    a, b = task.candidate_ids()
    other = make_user("labeler2")
    membership_set(project=project, user=other)
    assignment = _lease(labeler, project)
    with pytest.raises(Assignment.DoesNotExist, match="No such assignment for you"):
        ranking_submit(user=other, assignment_id=assignment.pk, data=RankingInput(tiers=[[a], [b]]))
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # The lease expired and the task went to someone else, who completed it.
    theirs = _lease(other, project)
    assert theirs.task_id == task.pk
    ranking_submit(user=other, assignment_id=theirs.pk, data=RankingInput(tiers=[[b], [a]]))
    with pytest.raises(ValidationError, match="lease on this task expired and other labelers have since completed"):
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a], [b]]))
    assert Ranking.objects.count() == 1


def test_ratings_and_flags_are_checked_against_the_project(labeler, project, make_ranking_task):
    task = make_ranking_task(k=3)
    a, b, c = task.candidate_ids()
    assignment = _lease(labeler, project)
    with pytest.raises(ValidationError, match="outside the scale 1–7"):
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a, b, c]], ratings={a: 9}))
    with pytest.raises(ValidationError, match="unknown flag"):
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[a, b, c]], flags={a: ["nope"]}))
    with pytest.raises(ValidationError, match="only to tasks with 2 candidates"):
        ranking_submit(user=labeler, assignment_id=assignment.pk,
                       data=RankingInput(tiers=[[a, b, c]], preference_strength="better"))
    with pytest.raises(ValidationError, match="why you can't judge"):
        ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(outcome="cant_judge"))
