"""The labeler workspace over REST: everything the page does, for a custom front end or a
script. One APIView per operation; each parses, calls the same service as the HTML view, and
serialises. Candidates are listed in this labeler's shown order, without their model.

    POST /api/projects/{id}/assignments/next/      lease the next task (or {"assignment": null})
    GET  /api/assignments/{id}/                    the task behind an assignment
    POST /api/assignments/{id}/ranking/            submit a ranking (or none acceptable / can't judge)
    POST /api/assignments/{id}/ranking-and-next/   the same, and lease the next task in one round trip
    POST /api/assignments/{id}/demonstration/      submit a demonstration or a dialogue
    POST /api/assignments/{id}/skip/               skip with a reason
    POST /api/assignments/{id}/renew/              extend the lease while the labeler works
    POST /api/assignments/{id}/suggestions/        ask the model for an assistant turn (a Job)
    GET  /api/projects/{id}/progress/              done today, time on task, guidelines
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Assignment, TaskKind
from annotate.selectors import assignment_get, candidates_shown, labeler_progress_today, project_for_member
from annotate.serializers import (
    DemonstrationInputSerializer,
    MessageSerializer,
    RankingInputSerializer,
    SkipInputSerializer,
    SuggestionInputSerializer,
    demonstration_input_validate,
    ranking_input_validate,
    skip_reason_validate,
    suggestion_conversation_validate,
)
from annotate.services.assignments import assignment_skip, lease_renew, task_next_for_labeler
from annotate.services.submissions import demonstration_submit, ranking_submit
from annotate.services.suggestions import suggestion_request
from annotate.services.text import markdown_to_safe_html

NO_WORK = "No work available right now: every task is done or being worked on by someone else."


class CandidateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField(help_text="1-based, in this labeler's shuffled order.")
    text = serializers.CharField()


class AssignmentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    task = serializers.IntegerField(source="task_id")
    kind = serializers.ChoiceField(choices=TaskKind.choices, source="task.kind")
    state = serializers.CharField()
    leased_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    conversation = MessageSerializer(many=True, source="task.prompt.conversation")
    candidates = serializers.SerializerMethodField()
    rating_scale = serializers.JSONField(source="project.rating_scale")
    flags = serializers.JSONField(source="project.flags")

    @extend_schema_field(CandidateOutput(many=True))
    def get_candidates(self, assignment) -> list[dict]:
        return CandidateOutput(candidates_shown(assignment=assignment), many=True).data


class NextOutput(serializers.Serializer):
    assignment = AssignmentOutput(allow_null=True)
    detail = serializers.CharField()


def _next(assignment: Assignment | None) -> dict:
    """What NextOutput renders: the leased assignment, or none and why."""
    return {"assignment": assignment, "detail": "Task leased." if assignment is not None else NO_WORK}


def _assignment(request, assignment_id: int) -> Assignment:
    return assignment_get(user=request.user, assignment_id=assignment_id)


class AssignmentNextApi(APIView):
    """Lease the next task of the project (a live lease is returned again, not doubled)."""

    @extend_schema(request=None, responses=NextOutput)
    def post(self, request, project_id: int):
        # The project is read with the membership (a non-member's is "not found", a 404).
        assignment = task_next_for_labeler(user=request.user, project=project_id)
        return Response(NextOutput(_next(assignment)).data)


class AssignmentDetailApi(APIView):
    @extend_schema(responses=AssignmentOutput)
    def get(self, request, assignment_id: int):
        return Response(AssignmentOutput(_assignment(request, assignment_id)).data)


class RankingSubmitApi(APIView):
    InputSerializer = RankingInputSerializer

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RankingSubmitOutput"

        id = serializers.IntegerField()
        assignment = serializers.IntegerField(source="assignment_id")
        task = serializers.IntegerField(source="task_id")
        outcome = serializers.CharField()
        tiers = serializers.JSONField()
        ratings = serializers.JSONField()
        flags = serializers.JSONField()
        cant_judge_reason = serializers.CharField()
        preference_strength = serializers.CharField()
        rationale = serializers.CharField()
        shown_order = serializers.JSONField()
        time_on_task_ms = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, assignment_id: int):
        # No read of the assignment here: the service reads it under its row lock, as the
        # caller's own (anyone else's is "not found": a 404 from core.api).
        ranking = ranking_submit(user=request.user, assignment_id=assignment_id, data=ranking_input_validate(request.data))
        return Response(self.OutputSerializer(ranking).data, status=status.HTTP_201_CREATED)


class RankingSubmitAndNextApi(APIView):
    """Submit a ranking and lease the next task of the same project in one round trip, as the
    workspace page does. The ranking is stored whatever happens next: if no next task can be
    handed out (none left, or this submission paused the labeler), `next.assignment` is null
    and `next.detail` says why."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RankingAndNextOutput"

        ranking = RankingSubmitApi.OutputSerializer()
        next = NextOutput()

    @extend_schema(request=RankingSubmitApi.InputSerializer, responses={201: OutputSerializer})
    def post(self, request, assignment_id: int):
        ranking = ranking_submit(user=request.user, assignment_id=assignment_id, data=ranking_input_validate(request.data))
        try:
            upcoming = _next(task_next_for_labeler(user=request.user, project=ranking.assignment.project))
        except DjangoPermissionDenied as exc:
            upcoming = {"assignment": None, "detail": str(exc)}
        return Response(self.OutputSerializer({"ranking": ranking, "next": upcoming}).data,
                        status=status.HTTP_201_CREATED)


class DemonstrationSubmitApi(APIView):
    """Demonstration tasks take `text`; dialogue tasks take `conversation`. `suggestions`
    names what the labeler started from; the edit distance is computed by the server."""

    InputSerializer = DemonstrationInputSerializer

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DemonstrationSubmitOutput"

        id = serializers.IntegerField()
        assignment = serializers.IntegerField(source="assignment_id")
        task = serializers.IntegerField(source="task_id")
        text = serializers.CharField()
        conversation = serializers.JSONField()
        suggestion_used = serializers.BooleanField()
        suggestion_candidate = serializers.IntegerField(source="suggestion_candidate_id", allow_null=True)
        edit_distance = serializers.FloatField(allow_null=True)
        time_on_task_ms = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, assignment_id: int):
        assignment = _assignment(request, assignment_id)
        data = demonstration_input_validate(user=request.user, assignment=assignment, data=request.data)
        demo = demonstration_submit(user=request.user, assignment_id=assignment.pk, data=data)
        return Response(self.OutputSerializer(demo).data, status=status.HTTP_201_CREATED)


class SkipApi(APIView):
    InputSerializer = SkipInputSerializer

    @extend_schema(request=InputSerializer, responses=inline_serializer(
        "SkipOutput", {"assignment": serializers.IntegerField(), "state": serializers.CharField(),
                       "skip_reason": serializers.CharField()}))
    def post(self, request, assignment_id: int):
        assignment = _assignment(request, assignment_id)
        assignment = assignment_skip(user=request.user, assignment_id=assignment.pk,
                                     reason=skip_reason_validate(request.data))
        return Response({"assignment": assignment.pk, "state": assignment.state,
                         "skip_reason": assignment.skip_reason})


class LeaseRenewApi(APIView):
    """Extend this assignment's lease by the project's lease time (the workspace page calls it
    while its tab is visible). 400 with the reason when there is nothing to renew: submitted,
    skipped, or expired and since completed by others."""

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "LeaseRenewOutput"

        assignment = serializers.IntegerField(source="pk")
        state = serializers.CharField()
        expires_at = serializers.DateTimeField()

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request, assignment_id: int):
        assignment = lease_renew(user=request.user, assignment_id=assignment_id)
        return Response(self.OutputSerializer(assignment).data)


class SuggestionApi(APIView):
    """A model suggestion for the next assistant turn of a dialogue: starts a "suggest" job
    (training.services.generation.suggestion_start); poll /api/jobs/{job_id}/ until it
    succeeds with result {"text": ...}. 503 when no suggestion model is set up."""

    InputSerializer = SuggestionInputSerializer

    @extend_schema(request=InputSerializer, responses={202: inline_serializer(
        "SuggestionOutput", {"job_id": serializers.IntegerField(), "status": serializers.CharField()})})
    def post(self, request, assignment_id: int):
        assignment = _assignment(request, assignment_id)
        conversation = suggestion_conversation_validate(request.data)
        job = suggestion_request(user=request.user, assignment=assignment, conversation=conversation)
        return Response({"job_id": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)


class ProgressApi(APIView):
    @extend_schema(responses=inline_serializer("WorkspaceProgress", {
        "done_today": serializers.IntegerField(), "skipped_today": serializers.IntegerField(),
        "time_ms_today": serializers.IntegerField(), "guidelines": serializers.CharField(),
        "guidelines_html": serializers.CharField(help_text="Sanitised HTML of the markdown guidelines."),
    }))
    def get(self, request, project_id: int):
        project = project_for_member(user=request.user, project_id=project_id)
        progress = labeler_progress_today(user=request.user, project=project)
        return Response({**progress, "guidelines": project.guidelines,
                         "guidelines_html": markdown_to_safe_html(project.guidelines)})
