"""A labeler asks the model for the next assistant turn of a dialogue: the rules of who may ask,
when, and with what, before the starter the training app registers (annotate/registry.py)
starts its "suggest" job."""
from __future__ import annotations

from django.core.exceptions import ValidationError

from annotate import registry
from annotate.models import Assignment, AssignmentState, validate_conversation
from core.api import ServiceUnavailable


class SuggestionsUnavailable(ServiceUnavailable):
    """No model can answer for this project (the API says 503: the request itself was fine)."""


def suggestion_request(*, user, assignment: Assignment, conversation: list[dict]):
    """Start a "suggest" job for the labeler's assignment (read with annotate.selectors.
    assignment_get: their own) while it is active; the conversation must end with a user
    turn. Returns the Job; the labeler polls /api/jobs/{id}/ for its text."""
    if assignment.state != AssignmentState.ACTIVE:
        raise ValidationError(f"This assignment is {assignment.state}.")
    validate_conversation(conversation)
    start = registry.suggestion_starter()
    if start is None:
        raise SuggestionsUnavailable("Model suggestions are unavailable: no suggestion model is set up.")
    return start(user=user, conversation=conversation, project=assignment.project)
