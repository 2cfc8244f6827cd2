"""What the annotation services call in the apps above them, registered by those apps in their
AppConfig.ready by dotted path (as the apps register job kinds), so annotate imports neither:

    register_quality(scored="labelers.services.quality.ranking_quality_record",        # labelers
                     screening_done="labelers.services.quality.qualification_maybe_decide",
                     screening_decide="labelers.services.quality.qualification_evaluate")
    register_suggestion_starter("training.services.generation.start.suggestion_for_labeler")  # training

Without a registration the step is left out: no scores and no screening decision (a labeler who
finished the screening goes on to real work), and suggestions answer that no model is set up.
"""
from __future__ import annotations

from functools import cache

from django.utils.module_loading import import_string

QUALITY: dict[str, str] = {}
SUGGESTION_STARTER: dict[str, str] = {}


def register_quality(*, scored: str, screening_done: str, screening_decide: str) -> None:
    """scored(ranking=, task=) scores a just-submitted ranking inside its transaction (the task row
    locked); screening_done(project=, user=) decides a labeler's screening once every screening
    task is submitted or skipped; screening_decide(project=, user=) -> QualificationStatus decides
    it now (the lease path, when the screening is done but undecided)."""
    QUALITY.update(scored=scored, screening_done=screening_done, screening_decide=screening_decide)
    _function.cache_clear()


def register_suggestion_starter(path: str) -> None:
    """starter(user=, conversation=, project=) -> Job: starts the model's answer, or raises
    annotate.services.suggestions.SuggestionsUnavailable with the reason."""
    SUGGESTION_STARTER["start"] = path
    _function.cache_clear()


@cache
def _function(path: str):
    return import_string(path)


def _call(registry: dict[str, str], name: str, **kwargs):
    path = registry.get(name)
    return _function(path)(**kwargs) if path else None


def ranking_scored(*, ranking, task) -> None:
    _call(QUALITY, "scored", ranking=ranking, task=task)


def screening_done(*, project, user) -> None:
    _call(QUALITY, "screening_done", project=project, user=user)


def screening_decide(*, project, user) -> str | None:
    return _call(QUALITY, "screening_decide", project=project, user=user)


def suggestion_starter():
    """The registered starter, or None."""
    path = SUGGESTION_STARTER.get("start")
    return _function(path) if path else None
