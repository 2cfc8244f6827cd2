"""Rounds over the REST API (admins): list, start the next round, detail (with the evaluation
and the labelers' old-vs-new verdict), retry from the failed step, cancel. A round's training
and evaluation steps also run alone (POST /api/trainings/, /api/evaluations/); export and
generation have their own endpoints."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Project
from core.converters import BIGINT_MAX
from core.permissions import IsRanklabAdmin
from exports.models import ExportSnapshot
from jobs.apis import JobOutputSerializer
from training.models import ModelKind, ModelVersion, PolicyMethod, QueueMode, Round
from training.services.evaluation import evaluation_start
from training.services.rounds import round_cancel, round_continue, round_retry, round_start
from training.services.rounds.selectors import round_human_winrate


class RoundOutputSerializer(serializers.ModelSerializer):
    human_win_rate = serializers.SerializerMethodField()
    jobs = serializers.SerializerMethodField()

    class Meta:
        model = Round
        fields = ["id", "project", "number", "status", "step", "method", "params", "base_policy", "reward_base",
                  "export", "reward_model", "policy_model", "current_job", "jobs", "queue_mode", "queue_order",
                  "evaluation", "human_win_rate", "error", "created_by", "created_at", "updated_at", "finished_at"]

    def get_human_win_rate(self, obj) -> dict:
        return round_human_winrate(obj)

    def get_jobs(self, obj) -> dict:
        """{step: job id} of the steps that have run."""
        steps = ("export", "reward", "policy", "evaluate", "generate", "pairwise", "prioritise")
        return {s: getattr(obj, f"{s}_job_id") for s in steps if getattr(obj, f"{s}_job_id")}


class RoundListApi(APIView):
    permission_classes = [IsRanklabAdmin]

    class RoundStartInputSerializer(serializers.Serializer):
        project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
        method = serializers.ChoiceField(choices=PolicyMethod.choices, default=PolicyMethod.DPO)
        base_policy = serializers.PrimaryKeyRelatedField(
            queryset=ModelVersion.objects.filter(kind=ModelKind.POLICY), required=False, allow_null=True,
            help_text="Default: the last round's policy, else the project's newest sampling policy.")
        reward_base = serializers.PrimaryKeyRelatedField(
            queryset=ModelVersion.objects.all(), required=False, allow_null=True,
            help_text="The model the reward model is trained from (default: the base policy).")
        queue_mode = serializers.ChoiceField(choices=QueueMode.choices, default=QueueMode.NONE)
        params = serializers.DictField(required=False, default=dict, help_text=(
            "export_options, reward_config, policy_config, evaluate, evaluation, generation "
            "{n_prompts, k, temperature, max_new_tokens, priority}, pairwise_n"))

    class FilterSerializer(serializers.Serializer):
        class Meta:
            ref_name = "RoundFilter"

        project = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)

    @extend_schema(parameters=[FilterSerializer], responses=RoundOutputSerializer(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rounds = Round.objects.filter(**filters.validated_data).order_by("-created_at")
        return Response(RoundOutputSerializer(rounds[:200], many=True).data)

    InputSerializer = RoundStartInputSerializer

    @extend_schema(request=InputSerializer, responses={202: RoundOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rnd = round_start(user=request.user, **data.validated_data)
        return Response(RoundOutputSerializer(rnd).data, status=status.HTTP_202_ACCEPTED)


class RoundDetailApi(APIView):
    permission_classes = [IsRanklabAdmin]

    @extend_schema(responses=RoundOutputSerializer)
    def get(self, request, round_id: int):
        return Response(RoundOutputSerializer(get_object_or_404(Round, pk=round_id)).data)


class RoundRetryApi(APIView):
    permission_classes = [IsRanklabAdmin]

    @extend_schema(request=None, responses={202: RoundOutputSerializer})
    def post(self, request, round_id: int):
        rnd = round_retry(rnd=get_object_or_404(Round, pk=round_id), user=request.user)
        return Response(RoundOutputSerializer(rnd).data, status=status.HTTP_202_ACCEPTED)


class RoundContinueApi(APIView):
    """Continue anyway: a round held because its reward model has not learned goes on to the policy step."""
    permission_classes = [IsRanklabAdmin]

    @extend_schema(request=None, responses={202: RoundOutputSerializer})
    def post(self, request, round_id: int):
        rnd = round_continue(rnd=get_object_or_404(Round, pk=round_id), user=request.user)
        return Response(RoundOutputSerializer(rnd).data, status=status.HTTP_202_ACCEPTED)


class RoundCancelApi(APIView):
    permission_classes = [IsRanklabAdmin]

    @extend_schema(request=None, responses=RoundOutputSerializer)
    def post(self, request, round_id: int):
        rnd = round_cancel(rnd=get_object_or_404(Round, pk=round_id))
        return Response(RoundOutputSerializer(rnd).data)


class TrainingStartApi(APIView):
    """Train a reward model, an SFT policy or a policy (DPO, PPO-ptx, RLOO) from an export."""
    permission_classes = [IsRanklabAdmin]

    class TrainingStartInputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["train_reward", "train_sft", "train_policy"])
        method = serializers.ChoiceField(choices=PolicyMethod.choices, required=False, default="",
                                         help_text="For train_policy.")
        project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
        export = serializers.PrimaryKeyRelatedField(queryset=ExportSnapshot.objects.all())
        base_model = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
        reward_model = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(), required=False,
                                                          allow_null=True, help_text="For PPO and RLOO.")
        config = serializers.DictField(required=False, default=dict, help_text="The trainer's config fields.")
        name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)

    InputSerializer = TrainingStartInputSerializer

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request):
        from training.services.training_jobs import training_start

        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = training_start(user=request.user, **data.validated_data)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class EvaluationStartApi(APIView):
    """RM-judged win rate of a policy against another (its parent) on an export's held-out prompts."""
    permission_classes = [IsRanklabAdmin]

    class EvaluationStartInputSerializer(serializers.Serializer):
        project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
        policy = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
        parent = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
        reward_model = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
        export = serializers.PrimaryKeyRelatedField(queryset=ExportSnapshot.objects.all())
        params = serializers.DictField(required=False, default=dict, help_text=(
            "n_prompts, max_new_tokens, temperature, seed, split, rm_max_length, batch_size"))

    InputSerializer = EvaluationStartInputSerializer

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = evaluation_start(user=request.user, **data.validated_data)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
