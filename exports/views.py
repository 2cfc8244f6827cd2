"""Admin pages for exports and imports: a project's snapshots with the forms to make one or
to import a file, a snapshot's page with its card and files, and a job page that refreshes
itself while the job runs. Thin: the same services as the API."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Project
from exports.forms import ExportForm, ImportForm
from exports.importers.examples import EXAMPLES
from exports.models import ExportSnapshot
from exports.services.download import snapshot_zip_name, snapshot_zip_stream
from exports.services.imports import import_prepare, import_start
from exports.services.snapshots import export_start, snapshot_file
from jobs.models import Job
from jobs.services.lifecycle import JobQueueUnavailable
from labelers.selectors import admin_check

DATA_ONLY = "Only admins may export or import data."


def _errors(form, exc: ValidationError):
    for field, texts in (exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]):
        for message in texts:
            form.add_error(field if field in form.fields else None, message)


@login_required
def project_exports(request, project_id: int, export_form=None, import_form=None):
    admin_check(request.user, DATA_ONLY)
    project = get_object_or_404(Project, pk=project_id)
    jobs = Job.objects.filter(project=project, kind__in=["export", "import"]).order_by("-created_at")[:20]
    return render(request, "exports/project.html", {
        "project": project, "snapshots": project.exports.order_by("-version"), "jobs": jobs,
        "export_form": export_form or ExportForm(), "import_form": import_form or ImportForm(),
        "examples": EXAMPLES.values(),
    }, status=400 if (export_form or import_form) else 200)


@login_required
@require_POST
def export_create(request, project_id: int):
    admin_check(request.user, DATA_ONLY)
    project = get_object_or_404(Project, pk=project_id)
    form = ExportForm(request.POST)
    if form.is_valid():
        try:
            job = export_start(project=project, options=form.options(), user=request.user)
            return redirect("exports:job", job_id=job.pk)
        except ValidationError as exc:
            _errors(form, exc)
        except JobQueueUnavailable as exc:
            return _queued_later(request, exc)
    return project_exports(request, project_id, export_form=form)


@login_required
@require_POST
def import_create(request, project_id: int):
    admin_check(request.user, DATA_ONLY)
    project = get_object_or_404(Project, pk=project_id)
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        v = form.cleaned_data
        try:
            options, path = import_prepare(uploaded=v["file"], example=v["example"], kind=v["kind"], fmt=v["format"],
                                           on_duplicate=v["on_duplicate"], source=v["source"], as_gold=v["as_gold"],
                                           make_tasks=v["make_tasks"])
            job = import_start(project=project, path=path, options=options, user=request.user)
            return redirect("exports:job", job_id=job.pk)
        except ValidationError as exc:
            _errors(form, exc)
        except JobQueueUnavailable as exc:
            return _queued_later(request, exc)
    return project_exports(request, project_id, import_form=form)


def _queued_later(request, exc: JobQueueUnavailable):
    """The job is saved but the broker refused its message: its page, with the sentence saying
    that it is sent again by itself."""
    messages.warning(request, str(exc.detail))
    return redirect("exports:job", job_id=exc.job_id)


@login_required
def job_detail(request, job_id: int):
    admin_check(request.user, DATA_ONLY)
    job = get_object_or_404(Job, pk=job_id, kind__in=["export", "import"])
    snapshot = ExportSnapshot.objects.filter(job=job).first()
    context = {"job": job, "snapshot": snapshot, "percent": round(job.progress * 100)}
    if request.htmx:  # the polled part only; 286 tells htmx to stop polling once the job is over
        return render(request, "exports/_job_live.html", context, status=286 if job.is_finished else 200)
    return render(request, "exports/job.html", context)


@login_required
def snapshot_detail(request, snapshot_id: int):
    admin_check(request.user, DATA_ONLY)
    snapshot = get_object_or_404(ExportSnapshot.objects.select_related("project"), pk=snapshot_id)
    card = ""
    try:
        card = snapshot_file(snapshot=snapshot, relative="README.md").read_text(encoding="utf-8")
    except ValidationError as exc:
        card = " ".join(exc.messages)
    files = sorted(snapshot.manifest.get("files", {}).items())
    return render(request, "exports/snapshot.html", {"snapshot": snapshot, "card": card, "files": files})


@login_required
def snapshot_download(request, snapshot_id: int):
    admin_check(request.user, DATA_ONLY)
    snapshot = get_object_or_404(ExportSnapshot, pk=snapshot_id)
    relative = request.GET.get("file")
    if relative:
        try:
            path = snapshot_file(snapshot=snapshot, relative=relative)
        except ValidationError as exc:
            from django.http import Http404

            raise Http404(" ".join(exc.messages))
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)
    response = StreamingHttpResponse(snapshot_zip_stream(snapshot), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{snapshot_zip_name(snapshot)}"'
    return response
