"""What a labeler submits, one validator per kind, shared by the REST API (annotate/apis.py) and
the workspace's HTML forms (annotate/views.py): the serializer checks the shape and ranges of
the input, the service (annotate/services/submissions.py) the rules that need the task.

    data = ranking_input_validate({"tiers": [[12], [11]], "time_on_task_ms": 5300})   # RankingInput
"""
from __future__ import annotations

from rest_framework import serializers

from annotate.models import PreferenceStrength, RankingOutcome
from annotate.services.submissions import INT32_MAX, DemonstrationInput, RankingInput
from annotate.services.text import demonstration_input_build
from core.converters import BIGINT_MAX

MAX_TURNS = 200
MAX_TEXT = 100_000


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(trim_whitespace=False, max_length=MAX_TEXT)


def _time_on_task():
    return serializers.IntegerField(min_value=0, max_value=INT32_MAX, default=0,
                                    help_text="Active time on the task in ms (hidden tab excluded).")


class RankingInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "RankingSubmitInput"

    outcome = serializers.ChoiceField(choices=RankingOutcome.choices, default=RankingOutcome.RANKED)
    tiers = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), default=list,
                                  help_text="Candidate ids best to worst; ids in one inner list are tied.")
    ratings = serializers.DictField(child=serializers.IntegerField(), default=dict,
                                    help_text="{candidate id: rating on the project's scale}")
    flags = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), default=dict,
                                  help_text="{candidate id: [flag keys]}")
    cant_judge_reason = serializers.CharField(allow_blank=True, default="", max_length=2000)
    preference_strength = serializers.ChoiceField(choices=PreferenceStrength.choices, allow_blank=True,
                                                  default="", help_text="Only for tasks with 2 candidates.")
    rationale = serializers.CharField(allow_blank=True, default="", max_length=10000)
    time_on_task_ms = _time_on_task()


class SuggestionSourceSerializer(serializers.Serializer):
    turn = serializers.IntegerField(required=False, min_value=0, max_value=MAX_TURNS,
                                    help_text="Dialogue only: the assistant turn.")
    candidate_id = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)
    job_id = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)


class DemonstrationInputSerializer(serializers.Serializer):
    """Demonstration tasks take `text`; dialogue tasks take `conversation`. `suggestions` names
    what the labeler started from; the edit distance is computed by the server."""

    class Meta:
        ref_name = "DemonstrationSubmitInput"

    text = serializers.CharField(allow_blank=True, default="", trim_whitespace=False, max_length=MAX_TEXT)
    conversation = MessageSerializer(many=True, required=False, allow_null=True, max_length=MAX_TURNS)
    suggestions = SuggestionSourceSerializer(many=True, default=list, max_length=MAX_TURNS)
    time_on_task_ms = _time_on_task()


class SkipInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "SkipInput"

    reason = serializers.CharField(max_length=2000, error_messages={
        "blank": "Say why you skip this task.", "required": "Say why you skip this task."})


class SuggestionInputSerializer(serializers.Serializer):
    class Meta:
        ref_name = "SuggestionInput"

    conversation = MessageSerializer(many=True, min_length=1, max_length=MAX_TURNS)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def ranking_input_validate(data) -> RankingInput:
    """The submitted ranking's shape and ranges (serializers.ValidationError if invalid)."""
    return RankingInput(**_valid(RankingInputSerializer, data))


def demonstration_input_validate(*, user, assignment, data) -> DemonstrationInput:
    """The submitted demonstration or dialogue, with its edit distance from the suggestions it
    started from (serializers.ValidationError for its shape, Django's for its rules)."""
    v = _valid(DemonstrationInputSerializer, data)
    conversation = [dict(m) for m in v["conversation"]] if v.get("conversation") else None
    return demonstration_input_build(
        user=user, assignment=assignment, text=v["text"], conversation=conversation,
        suggestions=[dict(s) for s in v["suggestions"]], time_on_task_ms=v["time_on_task_ms"],
    )


def skip_reason_validate(data) -> str:
    return _valid(SkipInputSerializer, data)["reason"]


def suggestion_conversation_validate(data) -> list[dict]:
    return [dict(m) for m in _valid(SuggestionInputSerializer, data)["conversation"]]
