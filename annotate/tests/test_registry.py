"""The apps above annotate plug their rules into its services through annotate/registry.py."""
import pytest

from annotate import registry


def test_labelers_and_training_register_what_the_services_call():
    assert registry.QUALITY == {
        "scored": "labelers.services.quality.ranking_quality_record",
        "screening_done": "labelers.services.quality.qualification_maybe_decide",
        "screening_decide": "labelers.services.quality.qualification_evaluate",
    }
    from training.services.generation.start import suggestion_for_labeler

    assert registry.suggestion_starter() is suggestion_for_labeler


@pytest.mark.django_db
def test_without_a_starter_a_suggestion_says_no_model_is_set_up(monkeypatch, labeler, project):
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.projects import prompt_create, task_create
    from annotate.services.suggestions import SuggestionsUnavailable, suggestion_request

    task_create(project=project, prompt=prompt_create(project=project, conversation="Hi"), kind="dialogue")
    assignment = task_next_for_labeler(user=labeler, project=project)
    monkeypatch.setattr(registry, "SUGGESTION_STARTER", {})
    with pytest.raises(SuggestionsUnavailable, match="no suggestion model is set up"):
        suggestion_request(user=labeler, assignment=assignment, conversation=[{"role": "user", "content": "Hi"}])
