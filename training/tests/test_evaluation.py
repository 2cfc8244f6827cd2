"""The "evaluate" job: RM-judged win rate of a policy against its parent on held-out prompts,
reward distributions and KL; and the Wilson interval used for both verdicts on the dashboard."""
import math
import shutil

import pytest
from django.core.exceptions import ValidationError

from jobs.models import JobStatus
from jobs.services import job_run
from training.services.evaluation import evaluation_start, wilson_interval
from training.services.registry import model_register
from training.tests.test_training_policy import _export, labelled, tiny_rm  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_wilson_interval():
    low, high = wilson_interval(7, 10)
    assert math.isclose(low, 0.3968, abs_tol=1e-4) and math.isclose(high, 0.8922, abs_tol=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and math.isclose(low, 0.7225, abs_tol=1e-4)
    low, high = wilson_interval(500, 1000)
    assert high - low < 0.07 and low < 0.5 < high


def test_evaluate_a_policy_against_its_parent(labelled, tiny_base, tiny_rm, tmp_path, bundled_tokenizer):  # noqa: F811
    from training.ml.bundled import tiny_random_model

    export = _export(labelled, ["ranked_groups"])
    twin_dir = tmp_path / "twin"
    shutil.copytree(tiny_base.location, twin_dir)
    twin = model_register(name="twin", backend="transformers", location=str(twin_dir), parent=tiny_base)
    other_dir = tmp_path / "other"
    tiny_random_model(len(bundled_tokenizer), seed=7).save_pretrained(other_dir)
    bundled_tokenizer.save_pretrained(other_dir)
    other = model_register(name="other", backend="transformers", location=str(other_dir), parent=tiny_base)
    params = {"n_prompts": 4, "max_new_tokens": 5, "rm_max_length": 64, "split": "train"}  # 1 test prompt here

    # The same weights under another name: the same answers, every prompt a tie, KL exactly 0.
    job = job_run(job_id=evaluation_start(project=labelled, policy=twin, parent=tiny_base, reward_model=tiny_rm,
                                          export=export, params=params).pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    r = job.result
    assert r["prompts"] == 4 and r["ties"] == 4 and r["win_rate"] == 0.5 and r["kl_from_parent"] == 0.0
    assert r["rewards"]["new"] == r["rewards"]["parent"] and len(r["rewards"]["new"]) == 4
    assert r["ci_low"] < 0.5 < r["ci_high"] and r["split"] == "train"

    job = job_run(job_id=evaluation_start(project=labelled, policy=other, parent=tiny_base, reward_model=tiny_rm,
                                          export=export, params=params).pk)
    r = job.result
    assert job.status == JobStatus.SUCCEEDED and r["wins"] + r["ties"] + r["losses"] == 4
    assert r["kl_from_parent"] != 0.0 and math.isfinite(r["kl_from_parent"])
    assert job.metrics["latest"]["win_rate"] == r["win_rate"]

    with pytest.raises(ValidationError, match="not with itself"):
        evaluation_start(project=labelled, policy=twin, parent=twin, reward_model=tiny_rm, export=export)
    with pytest.raises(ValidationError, match="tiny-base is not a reward model"):
        evaluation_start(project=labelled, policy=twin, parent=other, reward_model=tiny_base, export=export)
    with pytest.raises(ValidationError, match="Unknown evaluation options: n"):
        evaluation_start(project=labelled, policy=twin, parent=other, reward_model=tiny_rm, export=export,
                         params={"n": 3})


def test_evaluation_measures_the_ground_truth_of_a_known_rule(labelled, tiny_base, tiny_rm, tmp_path):  # noqa: F811
    from training.models import ProjectLoop

    ProjectLoop.objects.create(project=labelled, rule="not:keyword:zzzq")
    export = _export(labelled, ["ranked_groups"])
    twin_dir = tmp_path / "twin"
    shutil.copytree(tiny_base.location, twin_dir)
    twin = model_register(name="twin", backend="transformers", location=str(twin_dir), parent=tiny_base)
    job = job_run(job_id=evaluation_start(project=labelled, policy=twin, parent=tiny_base, reward_model=tiny_rm,
                                          export=export, params={"n_prompts": 4, "max_new_tokens": 5,
                                                                 "rm_max_length": 64, "split": "train"}).pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    truth = job.result["ground_truth"]
    assert truth["rule"] == "not:keyword:zzzq"
    for label in ("new", "parent"):  # no answer holds the word, so every answer satisfies the rule
        assert truth[label]["rate"] == 1.0 and truth[label]["n"] == 4 and truth[label]["ci_high"] == 1.0
    assert "ground truth (not:keyword:zzzq): new 100.0%, parent 100.0%" in job.log_tail


def test_ground_truth_counts_the_answers_satisfying_the_rule():
    from training.services.evaluation import ground_truth

    truth = ground_truth("keyword:please", {"new": ["please", "Please do", "no", "ok"], "parent": ["no"] * 4})
    assert truth["new"]["rate"] == 0.5 and truth["parent"]["rate"] == 0.0
    assert truth["new"]["ci_low"] < 0.5 < truth["new"]["ci_high"]
