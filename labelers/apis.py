"""Label quality over REST: stats, agreement, the review queue, calibration, gold, pauses.

    GET  /api/projects/{id}/labeler-stats/          per labeler (a labeler sees only their own row)
    GET  /api/projects/{id}/quality/                project agreement, alpha, progress (reviewers, admins)
    GET  /api/projects/{id}/review-queue/?mode=     pending submissions, flagged or sampled
    POST /api/submissions/{kind}/{id}/review/       accept or reject with a comment
    GET  /api/projects/{id}/calibration/            the caller's own feedback
    GET  /api/projects/{id}/alerts/                 open alerts (admins)
    POST /api/alerts/{id}/resolve/
    POST /api/projects/{id}/labelers/{user_id}/resume/
    POST /api/projects/{id}/labelers/{user_id}/qualification/   {"passed": bool}
    POST /api/tasks/{id}/gold/                      mark a task gold with its answer (admins)
    GET  /api/tasks/{id}/consensus/                 consensus ranking and agreement (reviewers, admins)
"""
from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import ReviewStatus
from labelers.models import LabelerAlert
from labelers.selectors.access import ADMINS, STAFF, project_and_role, project_for_role, project_member, task_for_role
from labelers.selectors.calibration import calibration_for_labeler
from labelers.selectors.review import MODES, review_queue, task_consensus
from labelers.selectors.stats import labeler_stats, open_alerts, project_quality
from labelers.services.gold import gold_access_check, task_mark_gold
from labelers.services.quality import alert_resolve, membership_resume, qualification_override
from labelers.services.review import review_access_check, submission_review


class LabelerStatsOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()
    is_paused = serializers.BooleanField()
    paused_reason = serializers.CharField()
    qualification = serializers.CharField()
    tasks_done = serializers.IntegerField(help_text="Submissions that count (not rejected).")
    rejected = serializers.IntegerField()
    skips = serializers.IntegerField()
    active_minutes = serializers.FloatField(help_text="Sum of active time on task (hidden tab excluded).")
    median_seconds_per_task = serializers.FloatField(allow_null=True)
    mean_seconds_per_task = serializers.FloatField(allow_null=True)
    throughput_per_hour = serializers.FloatField(allow_null=True, help_text="Tasks per hour of active time.")
    gold_tasks = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True, help_text="Mean gold score, 0..1.")
    consensus_agreement = serializers.FloatField(
        allow_null=True, help_text="Share of candidate pairs ordered like the other labelers' consensus.")
    peer_agreement = serializers.FloatField(
        allow_null=True, help_text="Share of candidate pairs ordered like each other labeler on shared tasks.")
    last_submission = serializers.DateTimeField(allow_null=True)


class LabelerStatsApi(APIView):
    @extend_schema(responses=LabelerStatsOutput(many=True))
    def get(self, request, project_id: int):
        project, role = project_and_role(user=request.user, project_id=project_id)
        only = None if role in ("admin", "reviewer") else [request.user.pk]
        rows = labeler_stats(project=project, user_ids=only)
        return Response(LabelerStatsOutput(rows, many=True).data)


class ProjectQualityApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ProjectQualityOutput"

        tasks = serializers.IntegerField()
        tasks_complete = serializers.IntegerField()
        gold_tasks = serializers.IntegerField()
        screening_tasks = serializers.IntegerField()
        tasks_with_overlap = serializers.IntegerField()
        pairwise_agreement = serializers.FloatField(
            allow_null=True, help_text="InstructGPT's inter-labeler agreement; a tie against a preference is 1/2.")
        pairwise_agreement_strict_ties = serializers.FloatField(allow_null=True, help_text="The same, ties count 0.")
        ratings_alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha (interval).")
        open_alerts = serializers.IntegerField()
        paused_labelers = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        project = project_for_role(user=request.user, project_id=project_id, roles=STAFF)
        return Response(self.OutputSerializer(project_quality(project=project)).data)


class ReviewQueueApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReviewQueueItem"

        kind = serializers.ChoiceField(choices=["ranking", "demonstration"])
        id = serializers.IntegerField()
        task = serializers.IntegerField()
        labeler = serializers.CharField()
        reason = serializers.ChoiceField(choices=["flagged", "sampled"])
        score = serializers.FloatField(allow_null=True)
        consensus_agreement = serializers.FloatField(allow_null=True)
        gold_score = serializers.FloatField(allow_null=True)
        created_at = serializers.DateTimeField()

    @extend_schema(parameters=[OpenApiParameter("mode", str, enum=list(MODES))], responses=OutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_for_role(user=request.user, project_id=project_id, roles=STAFF)
        mode = request.query_params.get("mode", "all")
        if mode not in MODES:
            raise exceptions.ValidationError({"mode": f"Choose from {', '.join(MODES)}."})
        return Response(self.OutputSerializer(review_queue(project=project, reviewer=request.user, mode=mode),
                                              many=True).data)


class SubmissionReviewApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReviewInput"

        decision = serializers.ChoiceField(choices=[ReviewStatus.ACCEPTED, ReviewStatus.REJECTED])
        comment = serializers.CharField(allow_blank=True, default="", max_length=4000)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ReviewOutput"

        id = serializers.IntegerField()
        task = serializers.IntegerField(source="task_id")
        review_status = serializers.CharField()
        review_comment = serializers.CharField()
        reviewed_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, kind: str, submission_id: int):
        try:
            # Who may review first: a body is judged only for those who may send one.
            review_access_check(reviewer=request.user, kind=kind, submission_id=submission_id)
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            sub = submission_review(reviewer=request.user, kind=kind, submission_id=submission_id,
                                    **serializer.validated_data)
        except ObjectDoesNotExist as exc:
            raise exceptions.NotFound(str(exc)) from None
        return Response(self.OutputSerializer(sub).data)


class CalibrationApi(APIView):
    @extend_schema(responses=inline_serializer("Calibration", {
        "summary": serializers.DictField(), "reviews": serializers.ListField(child=serializers.DictField()),
        "items": serializers.ListField(child=serializers.DictField())}))
    def get(self, request, project_id: int):
        project = project_for_role(user=request.user, project_id=project_id)
        data = calibration_for_labeler(project=project, user=request.user)
        items = [{"task": i["task"].pk, "ranking": i["ranking"].pk, "mine": i["mine"], "consensus": i["consensus"],
                  "gold": i["gold"], "agreement": i["agreement"], "gold_score": i["gold_score"],
                  "consensus_differences": i["consensus_diffs"], "gold_differences": i["gold_diffs"],
                  "missed_flags": i.get("missed_flags", []),
                  # Why "consensus" is null: it would be a single other labeler's own ranking.
                  "consensus_hidden_reason": i.get("consensus_hidden")} for i in data["items"]]
        return Response({"summary": data["summary"], "reviews": data["reviews"], "items": items})


class AlertOutput(serializers.ModelSerializer):
    labeler = serializers.CharField(source="labeler.username")

    class Meta:
        model = LabelerAlert
        fields = ["id", "labeler", "kind", "message", "created_at", "resolved_at"]


class AlertListApi(APIView):
    @extend_schema(responses=AlertOutput(many=True))
    def get(self, request, project_id: int):
        project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
        return Response(AlertOutput(open_alerts(project=project), many=True).data)


class AlertResolveApi(APIView):
    @extend_schema(request=None, responses=AlertOutput)
    def post(self, request, alert_id: int):
        try:
            alert = alert_resolve(admin=request.user, alert_id=alert_id)
        except LabelerAlert.DoesNotExist as exc:
            raise exceptions.NotFound(str(exc)) from None
        return Response(AlertOutput(alert).data)


MembershipOutput = inline_serializer("MembershipQualityOutput", {
    "user_id": serializers.IntegerField(), "is_paused": serializers.BooleanField(),
    "qualification_status": serializers.CharField()})


def _membership_data(m) -> dict:
    return {"user_id": m.user_id, "is_paused": m.is_paused, "qualification_status": m.qualification_status}


class LabelerResumeApi(APIView):
    @extend_schema(request=None, responses=MembershipOutput)
    def post(self, request, project_id: int, user_id: int):
        project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
        m = membership_resume(admin=request.user, project=project, user=project_member(project=project, user_id=user_id))
        return Response(_membership_data(m))


class LabelerQualificationApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "QualificationInput"

        passed = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses=MembershipOutput)
    def post(self, request, project_id: int, user_id: int):
        project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        m = qualification_override(admin=request.user, project=project, user=project_member(project=project, user_id=user_id),
                                   passed=serializer.validated_data["passed"])
        return Response(_membership_data(m))


class TaskGoldApi(APIView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "GoldInput"

        gold_answer = serializers.JSONField(
            help_text='{"tiers": [[candidate ids], ...]} and/or {"must_flag": [ids] or {id: [flag keys]}}')
        is_screening = serializers.BooleanField(default=False)

    @extend_schema(request=InputSerializer, responses=inline_serializer("GoldOutput", {
        "task": serializers.IntegerField(), "is_gold": serializers.BooleanField(),
        "is_screening": serializers.BooleanField(), "gold_answer": serializers.JSONField()}))
    def post(self, request, task_id: int):
        task = gold_access_check(admin=request.user, task_id=task_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = task_mark_gold(admin=request.user, task_id=task.pk, **serializer.validated_data)
        return Response({"task": task.pk, "is_gold": task.is_gold, "is_screening": task.is_screening,
                         "gold_answer": task.gold_answer})


class TaskConsensusApi(APIView):
    @extend_schema(responses=inline_serializer("ConsensusOutput", {
        "task": serializers.IntegerField(), "rankings": serializers.IntegerField(),
        "consensus": serializers.ListField(child=serializers.ListField(child=serializers.IntegerField())),
        "agreement": serializers.FloatField(allow_null=True),
        "method": serializers.CharField()}))
    def get(self, request, task_id: int):
        return Response(task_consensus(task=task_for_role(user=request.user, task_id=task_id, roles=STAFF)))
