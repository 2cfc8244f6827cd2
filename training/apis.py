"""The model registry, generation and suggestions over the REST API. Registry and generation
are for admins; a suggestion may be asked by any member of the project. An endpoint's API
key is write-only: responses say only whether one is set."""
from urllib.parse import urlsplit, urlunsplit

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Project
from core.permissions import IsRanklabAdmin
from jobs.apis import JobOutputSerializer
from training.models import Backend, ModelKind, ModelVersion
from training.services.generation import generation_start, suggestion_start
from training.services.generation.start import SELECTION_MODES
from training.services.registry import model_add, model_lineage, project_sampling_models_set
from training.services.suggestions import suggestion_access_check

ENDPOINT_CONFIG_KEYS = ("timeout", "max_retries", "backoff", "concurrency")


def public_location(model: ModelVersion) -> str:
    """The location without any user:password@ part a base URL might carry."""
    if model.backend != Backend.OPENAI:
        return model.location
    parts = urlsplit(model.location)
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))) \
        if parts.hostname else model.location


class ModelOutputSerializer(serializers.ModelSerializer):
    location = serializers.SerializerMethodField()
    has_api_key = serializers.SerializerMethodField()
    parent_name = serializers.CharField(source="parent.name", default=None, read_only=True)
    ready = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "kind", "backend", "location", "endpoint_model", "has_api_key", "parent",
                  "parent_name", "produced_by_job", "export_snapshot", "config", "metrics", "is_bundled", "ready",
                  "created_at"]

    def get_location(self, obj) -> str:
        return public_location(obj)

    def get_has_api_key(self, obj) -> bool:
        return bool(obj.api_key)

    def get_ready(self, obj) -> bool:
        """Whether a worker can sample from it now (a GGUF needs its conversion first)."""
        return obj.backend != Backend.GGUF or bool(obj.config.get("converted"))


class ModelListApi(APIView):
    permission_classes = [IsRanklabAdmin]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        backend = serializers.ChoiceField(choices=Backend.choices)
        location = serializers.CharField(max_length=500, help_text="Directory, .gguf file, or base URL.")
        kind = serializers.ChoiceField(choices=ModelKind.choices, default=ModelKind.POLICY)
        endpoint_model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        api_key = serializers.CharField(max_length=500, required=False, allow_blank=True, default="", write_only=True,
                                        style={"input_type": "password"})
        parent = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(), required=False, allow_null=True)
        tokenizer_dir = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
        timeout = serializers.FloatField(required=False, min_value=0.1, max_value=3600)
        max_retries = serializers.IntegerField(required=False, min_value=0, max_value=10)
        concurrency = serializers.IntegerField(required=False, min_value=1, max_value=64)

    @extend_schema(responses=ModelOutputSerializer(many=True))
    def get(self, request):
        models = ModelVersion.objects.select_related("parent").order_by("-created_at")
        for key in ("kind", "backend"):
            if request.query_params.get(key):
                models = models.filter(**{key: request.query_params[key]})
        return Response(ModelOutputSerializer(models[:500], many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ModelOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = dict(data.validated_data)
        config = {key: d.pop(key) for key in ENDPOINT_CONFIG_KEYS if key in d}
        if d.pop("tokenizer_dir", ""):
            config["tokenizer_dir"] = data.validated_data["tokenizer_dir"]
        model = model_add(user=request.user, config=config, **d)
        return Response(ModelOutputSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelDetailApi(APIView):
    permission_classes = [IsRanklabAdmin]

    @extend_schema(responses=ModelOutputSerializer)
    def get(self, request, model_id: int):
        return Response(ModelOutputSerializer(get_object_or_404(ModelVersion, pk=model_id)).data)


class LineageNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="model.id")
    name = serializers.CharField(source="model.name")
    kind = serializers.CharField(source="model.kind")
    children = serializers.SerializerMethodField()

    def get_children(self, node) -> list[dict]:
        return LineageNodeSerializer(node["children"], many=True).data


class ModelLineageApi(APIView):
    permission_classes = [IsRanklabAdmin]

    class OutputSerializer(serializers.Serializer):
        model = ModelOutputSerializer()
        ancestors = ModelOutputSerializer(many=True)
        descendants = LineageNodeSerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request, model_id: int):
        model = get_object_or_404(ModelVersion, pk=model_id)
        return Response(self.OutputSerializer({"model": model, **model_lineage(model=model)}).data)


class ProjectSamplingModelsApi(APIView):
    permission_classes = [IsRanklabAdmin]

    class InputSerializer(serializers.Serializer):
        model_versions = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(), many=True)

    @extend_schema(responses=ModelOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = get_object_or_404(Project, pk=project_id)
        return Response(ModelOutputSerializer(project.sampling_models.order_by("pk"), many=True).data)

    @extend_schema(request=InputSerializer, responses=ModelOutputSerializer(many=True))
    def put(self, request, project_id: int):
        project = get_object_or_404(Project, pk=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        models = project_sampling_models_set(project=project, models=data.validated_data["model_versions"])
        return Response(ModelOutputSerializer(models, many=True).data)


class SelectionSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=SELECTION_MODES, default="unused")
    tag = serializers.CharField(required=False, allow_blank=True, default="")
    n = serializers.IntegerField(required=False, min_value=1, max_value=20_000)
    prompt_ids = serializers.ListField(child=serializers.IntegerField(), required=False)


class GenerationStartApi(APIView):
    permission_classes = [IsRanklabAdmin]

    class InputSerializer(serializers.Serializer):
        project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
        model_versions = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(), many=True,
                                                            required=False, help_text="Default: the project's.")
        k = serializers.IntegerField(required=False, min_value=2, max_value=9, help_text="Default: the project's K.")
        selection = SelectionSerializer(required=False)
        temperature = serializers.FloatField(required=False, min_value=0, max_value=5)
        top_p = serializers.FloatField(required=False, min_value=0.01, max_value=1)
        max_new_tokens = serializers.IntegerField(required=False, min_value=1, max_value=8192)
        seed = serializers.IntegerField(required=False, min_value=0)
        demonstrations = serializers.BooleanField(required=False, default=False)
        priority = serializers.FloatField(required=False, default=0.0)

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = dict(data.validated_data)
        project = d.pop("project")
        models = d.pop("model_versions", None) or list(project.sampling_models.order_by("pk"))
        job = generation_start(project=project, model_versions=models, k=d.pop("k", None),
                               selection=d.pop("selection", None), params=d, user=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class SuggestionStartApi(APIView):
    """One model answer to a conversation, as a job to poll at /api/jobs/<id>/. Members of
    the project may ask with the project's model; choosing the model (the playground) and
    streaming are for admins."""

    class InputSerializer(serializers.Serializer):
        conversation = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=200)
        project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all(), required=False, allow_null=True)
        model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all(), required=False,
                                                           allow_null=True)
        stream = serializers.BooleanField(required=False, default=False)
        temperature = serializers.FloatField(required=False, min_value=0, max_value=5)
        top_p = serializers.FloatField(required=False, min_value=0.01, max_value=1)
        max_new_tokens = serializers.IntegerField(required=False, min_value=1, max_value=4096)
        seed = serializers.IntegerField(required=False, min_value=0)

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = dict(data.validated_data)
        project, model = d.pop("project", None), d.pop("model_version", None)
        suggestion_access_check(user=request.user, project=project, model_version=model, stream=d.get("stream"))
        job = suggestion_start(user=request.user, conversation=d.pop("conversation"), project=project,
                               model_version=model, stream=d.pop("stream"), params=d)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
