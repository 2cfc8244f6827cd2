"""The round dashboard shows, when the project's rule is known, the ground-truth rate of the
parent and the new policy beside the RM-judged win rate, and the labeler agreement beside the
reward model's accuracy."""
import pytest

from training.models import ModelKind, ModelVersion, Round, RoundStatus, RoundStep
from training.tests.test_rounds_pages import urlpatterns  # noqa: F401 (rounds/ mounted)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("training.tests.test_rounds_pages")]

EVALUATION = {"prompts": 64, "win_rate": 0.61, "ci_low": 0.49, "ci_high": 0.72, "wins": 39, "ties": 0, "losses": 25,
              "split": "test", "kl_from_parent": 0.8, "rewards": {"new": [0.1], "parent": [0.0]},
              "ground_truth": {"rule": "shorter", "new": {"rate": 0.53, "n": 64, "ci_low": 0.41, "ci_high": 0.65},
                               "parent": {"rate": 0.3, "n": 64, "ci_low": 0.2, "ci_high": 0.42}}}


def _round(project, tiny_base, evaluation):
    rm = ModelVersion.objects.create(name="rm", kind=ModelKind.REWARD, backend="transformers",
                                     location=tiny_base.location,
                                     metrics={"eval_accuracy": 0.88, "eval_pairs": 400, "labeler_agreement": 0.91})
    return Round.objects.create(project=project, number=1, base_policy=tiny_base, reward_model=rm, policy_model=tiny_base,
                                status=RoundStatus.SUCCEEDED, step=RoundStep.DONE, evaluation=evaluation)


def test_the_dashboard_shows_the_ground_truth_beside_the_rm_verdict(client, admin_user, project, tiny_base):
    rnd = _round(project, tiny_base, EVALUATION)
    client.force_login(admin_user)
    page = client.get(f"/rounds/{rnd.pk}/").content.decode()
    assert "the new policy wins <strong>61%</strong>" in page
    assert "Ground truth (rule <code>shorter</code>): <strong>53%</strong> of the new policy" in page
    assert "against 30% of the parent" in page and "on the same 64 prompts" in page
    assert "held-out accuracy <strong>88%</strong> on 400 pairs" in page
    assert "beside labeler agreement <strong>91%</strong>" in page
    assert "rule: parent" in page and "rule: new" in page  # the bars of the win-rate chart


def test_without_a_rule_there_is_no_ground_truth(client, admin_user, project, tiny_base):
    rnd = _round(project, tiny_base, {k: v for k, v in EVALUATION.items() if k != "ground_truth"})
    client.force_login(admin_user)
    page = client.get(f"/rounds/{rnd.pk}/").content.decode()
    assert "Ground truth" not in page and "rule: parent" not in page and "the new policy wins" in page
