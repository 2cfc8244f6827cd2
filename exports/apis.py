"""Exports and imports over the REST API; admins only. Long work runs as Jobs: the POSTs
answer 202 with the job, which /api/jobs/<id>/ reports on."""
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Project
from core.parsers import FormParser, MultiPartParser
from core.permissions import IsRanklabAdmin
from exports.importers.examples import EXAMPLES
from exports.models import ExportSnapshot
from exports.services.download import snapshot_zip_name, snapshot_zip_stream
from exports.services.imports import IMPORT_KINDS, import_prepare, import_start
from exports.services.snapshots import export_start, snapshot_file
from jobs.apis import JobOutputSerializer


class IsDataAdmin(IsRanklabAdmin):
    message = "Only admins may export or import data."


class SnapshotOutputSerializer(serializers.ModelSerializer):
    job = serializers.IntegerField(source="job_id", allow_null=True)

    class Meta:
        model = ExportSnapshot
        fields = ["id", "project", "version", "job", "sha256", "created_at", "manifest"]


class ExportStartInputSerializer(serializers.Serializer):
    options = serializers.DictField(required=False, default=dict,
                                    help_text="Filters and format options; see docs/formats.md.")


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, default=None, help_text="The file to import, or give `example`.")
    example = serializers.ChoiceField(choices=list(EXAMPLES), required=False, allow_blank=True, default="",
                                      help_text="A built-in example dataset (data/examples) instead of a file; "
                                                "kind and format come with it.")
    kind = serializers.ChoiceField(choices=list(IMPORT_KINDS), required=False, allow_blank=True, default="")
    format = serializers.CharField(required=False, allow_blank=True, default="",
                                   help_text="prompts: jsonl, csv, txt, mt-bench, self-instruct; "
                                             "preferences: trl, hh-rlhf; candidates: jsonl. Default: from the name.")
    on_duplicate = serializers.ChoiceField(choices=["", "skip", "fail"], required=False, default="")
    source = serializers.CharField(required=False, allow_blank=True, default="")
    as_gold = serializers.BooleanField(required=False, default=False)
    make_tasks = serializers.BooleanField(required=False, default=False)


class ExportListCreateApi(APIView):
    permission_classes = [IsDataAdmin]

    InputSerializer = ExportStartInputSerializer

    @extend_schema(responses=SnapshotOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = get_object_or_404(Project, pk=project_id)
        return Response(SnapshotOutputSerializer(project.exports.order_by("-version"), many=True).data)

    @extend_schema(request=InputSerializer, responses={202: JobOutputSerializer})
    def post(self, request, project_id: int):
        project = get_object_or_404(Project, pk=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = export_start(project=project, options=data.validated_data["options"], user=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    permission_classes = [IsDataAdmin]

    @extend_schema(responses=SnapshotOutputSerializer)
    def get(self, request, snapshot_id: int):
        return Response(SnapshotOutputSerializer(get_object_or_404(ExportSnapshot, pk=snapshot_id)).data)


class ExportDownloadApi(APIView):
    """The whole snapshot as a zip (streamed), or one file with ?file=<path in the manifest>."""

    permission_classes = [IsDataAdmin]

    @extend_schema(parameters=[OpenApiParameter("file", str, description="A path listed in the manifest.")],
                   responses={(200, "application/zip"): OpenApiTypes.BINARY,
                              (200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, snapshot_id: int):
        snapshot = get_object_or_404(ExportSnapshot, pk=snapshot_id)
        relative = request.query_params.get("file")
        if relative:
            path = snapshot_file(snapshot=snapshot, relative=relative)
            return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name,
                                content_type="application/octet-stream")
        response = StreamingHttpResponse(snapshot_zip_stream(snapshot), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{snapshot_zip_name(snapshot)}"'
        return response


class ImportCreateApi(APIView):
    permission_classes = [IsDataAdmin]
    parser_classes = [MultiPartParser, FormParser]  # core.parsers: NUL and size checks

    InputSerializer = ImportInputSerializer

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={202: JobOutputSerializer})
    def post(self, request, project_id: int):
        project = get_object_or_404(Project, pk=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        options, path = import_prepare(uploaded=v["file"], example=v["example"], kind=v["kind"], fmt=v["format"],
                                       on_duplicate=v["on_duplicate"], source=v["source"], as_gold=v["as_gold"],
                                       make_tasks=v["make_tasks"])
        job = import_start(project=project, path=path, options=options, user=request.user)
        return Response(JobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
