"""Jobs over the REST API: list, detail, cancel, retry. Admins see every job; others only the
jobs they started (e.g. a model suggestion a labeler asked for)."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.models import Job
from jobs.selectors import jobs_for_user
from jobs.services import job_cancel, job_retry


class JobOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "kind", "project", "params", "status", "progress", "progress_message", "log_tail",
                  "metrics", "result", "error", "attempts", "cancel_requested", "parent", "created_at",
                  "queued_at", "sent_at", "started_at", "heartbeat_at", "finished_at"]


class JobListApi(APIView):
    @extend_schema(responses=JobOutputSerializer(many=True))
    def get(self, request):
        jobs = jobs_for_user(request.user).order_by("-created_at")
        for key in ("kind", "status", "project"):
            if request.query_params.get(key):
                jobs = jobs.filter(**{key: request.query_params[key]})
        return Response(JobOutputSerializer(jobs[:200], many=True).data)


class JobDetailApi(APIView):
    @extend_schema(responses=JobOutputSerializer)
    def get(self, request, job_id: int):
        return Response(JobOutputSerializer(get_object_or_404(jobs_for_user(request.user), pk=job_id)).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses=JobOutputSerializer)
    def post(self, request, job_id: int):
        job = job_cancel(job=get_object_or_404(jobs_for_user(request.user), pk=job_id))
        return Response(JobOutputSerializer(job).data)


class JobRetryApi(APIView):
    @extend_schema(request=None, responses=JobOutputSerializer)
    def post(self, request, job_id: int):
        job = get_object_or_404(jobs_for_user(request.user), pk=job_id)
        try:
            job = job_retry(job=job)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(JobOutputSerializer(job).data)
