"""Simulated labelers: the rules (training/ml/rules.py), and labelers_simulate / manage.py
simulate_labelers taking real tasks through the REST API."""
import random

import pytest
from django.core.management import CommandError, call_command

from annotate.models import Assignment, AssignmentState, Demonstration, Ranking
from training.ml.rules import RuleError, best_answer, flip_adjacent, parse_rule, rank_tiers, rule_rate
from training.models import ProjectLoop
from training.services.simulation import labelers_simulate

TEXTS = [(1, "A short one."), (2, "A much longer answer, please, with many words."), (3, "Two words"),
         (4, "Please\nnumbered: 1. first")]


def test_shorter_and_longer_rank_by_words_and_tie_equal_lengths():
    assert rank_tiers(parse_rule("shorter"), TEXTS) == [[3], [1], [4], [2]]
    assert rank_tiers(parse_rule("longer"), TEXTS) == [[2], [4], [1], [3]]
    assert rank_tiers(parse_rule("shorter"), [(1, "a b"), (2, "c d"), (3, "e")]) == [[3], [1, 2]]
    assert parse_rule("shorter").satisfied("word " * 20) and not parse_rule("shorter").satisfied("word " * 21)
    assert parse_rule("longer").satisfied("word " * 21) and not parse_rule("longer").satisfied("word " * 20)


def test_keyword_is_a_whole_word_case_insensitive():
    rule = parse_rule("keyword:please")
    assert rank_tiers(rule, TEXTS) == [[2, 4], [1, 3]]
    assert not rule.satisfied("pleased to help") and rule.satisfied("PLEASE.")
    assert parse_rule("keyword:c++").satisfied("I like C++ a lot")


def test_regex_is_multiline_and_not_inverts():
    rule = parse_rule(r"regex:^numbered")
    assert rank_tiers(rule, TEXTS) == [[4], [1, 2, 3]]
    assert rank_tiers(parse_rule(r"not:regex:^numbered"), TEXTS) == [[1, 2, 3], [4]]
    assert rank_tiers(parse_rule("not:shorter"), TEXTS) == rank_tiers(parse_rule("longer"), TEXTS)
    assert parse_rule("not:not:keyword:please").satisfied("please")
    assert rule_rate(parse_rule("keyword:please"), [t for _, t in TEXTS]) == 0.5
    assert rule_rate(rule, []) is None


def test_a_regex_keeps_its_trailing_space_and_other_rules_ignore_outer_spaces():
    article = parse_rule("regex:\\AThe ")
    assert article.satisfied("The cat") and not article.satisfied("Theory first")
    assert parse_rule("  shorter \n").kind == "shorter"
    assert parse_rule(" keyword:that ").satisfied("so that")
    assert parse_rule("not: regex:\\AThe ").satisfied("Theory first")


@pytest.mark.parametrize("spec, message", [
    ("", "Give a rule"), ("shortest", "Unknown rule 'shortest'"), ("keyword:", "needs a word"),
    ("regex:", "needs a pattern"), ("regex:  ", "needs a pattern"), ("regex:(unclosed", "not a valid regular expression"),
    ("not:", "needs a rule"), ("not:bogus", "Unknown rule 'bogus'"), ("colour:red", "Unknown rule 'colour'"),
])
def test_malformed_rules_are_refused_with_a_sentence(spec, message):
    with pytest.raises(RuleError, match=message):
        parse_rule(spec)


def test_noise_flips_that_share_of_adjacent_pairs():
    tiers = [[1], [2], [3], [4]]
    assert flip_adjacent(tiers, 0.0, random.Random(0)) == tiers
    rng, flips, trials = random.Random(1), 0, 4000
    for _ in range(trials):
        noisy = flip_adjacent([[1], [2]], 0.1, rng)
        flips += noisy != [[1], [2]]
    assert 0.08 < flips / trials < 0.12
    assert flip_adjacent(tiers, 1.0, random.Random(0)) == [[2], [3], [4], [1]]  # each swap carries the best down


def test_best_answer_must_satisfy_the_rule():
    assert best_answer(parse_rule("keyword:please"), ["no", "yes please"]) == "yes please"
    assert best_answer(parse_rule("keyword:please"), ["no", "nope"]) is None
    assert best_answer(parse_rule("shorter"), []) is None


# ---------------------------------------------------------------- through the API

@pytest.fixture
def ranking_tasks(project, make_ranking_task):
    project.gold_rate = 0
    project.save()
    return [make_ranking_task(k=4, texts=[f"Answer {i}" + " more" * n for n in range(4)]) for i in range(5)]


def test_simulated_labelers_rank_every_task_through_the_api(project, ranking_tasks, admin_user):
    from annotate.models import Membership

    report = labelers_simulate(project=project, rule="shorter", labelers=2, noise=0.0)
    assert report.rankings == 5 and report.submitted == 5 and not report.stopped
    # accounts created and made labelers of the project
    members = Membership.objects.filter(project=project, user__username__startswith=f"sim-{project.pk}-")
    assert sorted(m.user.username for m in members) == [f"sim-{project.pk}-1", f"sim-{project.pk}-2"]
    assert {m.role for m in members} == {"labeler"}
    assert not members[0].user.has_usable_password()
    for task in ranking_tasks:  # submitted by a simulated labeler through the API: shortest first, no ties here
        ranking = Ranking.objects.get(task=task)
        texts = {c.pk: c.text for c in task.candidates.all()}
        assert [len(texts[t[0]]) for t in ranking.tiers] == sorted(len(t) for t in texts.values())
        assert ranking.assignment.state == AssignmentState.SUBMITTED
        assert ranking.assignment.labeler.username.startswith("sim-")
    assert ProjectLoop.objects.get(project=project).rule == "shorter"
    # a second run reuses the accounts and finds nothing left to do
    again = labelers_simulate(project=project, rule="shorter", labelers=2, noise=0.0)
    assert again.submitted == 0


def test_ties_and_max_tasks(project, make_ranking_task):
    project.gold_rate = 0
    project.save()
    task = make_ranking_task(k=4, texts=["say please", "no", "Please do", "nothing"])
    make_ranking_task(k=4)
    report = labelers_simulate(project=project, rule="keyword:please", labelers=1, noise=0.0, max_tasks=1)
    assert report.submitted == 1 and report.ties == 1
    ranking = Ranking.objects.get()
    texts = {c.pk: c.text for c in task.candidates.all()}
    if ranking.task_id == task.pk:
        assert [sorted(texts[c] for c in tier) for tier in ranking.tiers] == [["Please do", "say please"],
                                                                              ["no", "nothing"]]


def test_noise_reaches_the_submitted_rankings(project, make_ranking_task):
    project.gold_rate = 0
    project.save()
    for i in range(30):
        make_ranking_task(k=2, texts=[f"short {i}", f"a much longer answer {i}"])
    report = labelers_simulate(project=project, rule="shorter", labelers=3, noise=0.3, seed=3)
    assert report.rankings == 30
    wrong = sum(1 for r in Ranking.objects.all()
                if r.tiers[0] != [c.pk for c in r.task.candidates.all() if c.text.startswith("short")])
    assert wrong == report.flipped and 3 <= wrong <= 18


def test_demonstrations_answer_with_the_best_candidate_or_skip(project):
    from annotate.services.projects import candidate_create, prompt_create, task_create

    project.gold_rate = 0
    project.save()
    with_answer = prompt_create(project=project, conversation="Ask politely.")
    suggestions = [candidate_create(prompt=with_answer, text=t, source="test")
                   for t in ("Salt.", "Pass the salt, please.")]
    task_create(project=project, prompt=with_answer, kind="demonstration", candidates=suggestions)
    without = prompt_create(project=project, conversation="Anything.")
    no_match = [candidate_create(prompt=without, text="No.", source="test")]
    task_create(project=project, prompt=without, kind="demonstration", candidates=no_match)
    bare = prompt_create(project=project, conversation="Nothing to start from.")
    task_create(project=project, prompt=bare, kind="demonstration")
    report = labelers_simulate(project=project, rule="keyword:please", labelers=1, noise=0.0)
    assert (report.demonstrations, report.skipped) == (1, 2)
    assert [d.text for d in Demonstration.objects.all()] == ["Pass the salt, please."]
    skipped = Assignment.objects.filter(state=AssignmentState.SKIPPED)
    assert {a.skip_reason for a in skipped} == {
        "Simulated labeler: no candidate satisfies the rule keyword:please, so there is nothing to answer with."}


def test_command_refuses_malformed_rules_before_anything_runs(project, ranking_tasks):
    from django.contrib.auth import get_user_model

    with pytest.raises(CommandError, match="not a valid regular expression"):
        call_command("simulate_labelers", project.name, "--rule", "regex:(")
    with pytest.raises(CommandError, match="noise is a share"):
        call_command("simulate_labelers", project.name, "--rule", "shorter", "--noise", "2")
    assert not get_user_model().objects.filter(username__startswith="sim-").exists()
    assert not Ranking.objects.exists() and not ProjectLoop.objects.exists()
    with pytest.raises(CommandError, match="No project named 'nope'"):
        call_command("simulate_labelers", "nope", "--rule", "shorter")


def test_command_runs_and_reports(project, ranking_tasks, capsys):
    call_command("simulate_labelers", project.name, "--rule", "not:longer", "--labelers", "1", "--max-tasks", "3")
    assert "3 tasks by 1 simulated labelers (3 rankings" in capsys.readouterr().out
    assert Ranking.objects.count() == 3
