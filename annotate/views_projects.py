"""Admin pages for projects: create one, change its settings, preview its guidelines. Thin: the
form parses, Project.clean() holds the rules, annotate.services.projects writes."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate.forms import ProjectForm
from annotate.models import Project
from annotate.services.projects import project_create, project_update
from annotate.services.text import markdown_to_safe_html
from core.permissions import admin_check

PROJECTS_ONLY = "Only admins may create or change projects."


def _save(form: ProjectForm, project: Project | None) -> Project | None:
    fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
    try:
        if project is None:
            return project_create(**fields)
        return project_update(project=project, **fields)
    except ValidationError as exc:  # e.g. a name taken by a concurrent request
        form.add_error(None, exc)
        return None


def _form_page(request, form: ProjectForm, project: Project | None):
    return render(request, "annotate/project_form.html", {"form": form, "project": project},
                  status=400 if form.is_bound and form.errors else 200)


@login_required
def project_new(request):
    admin_check(request.user, PROJECTS_ONLY)
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = _save(form, None)
        if project is not None:
            messages.success(request, f"Project “{project.name}” created. Add its members next.")
            return redirect("labelers:members", project_id=project.pk)
    return _form_page(request, form, None)


@login_required
def project_edit(request, project_id: int):
    admin_check(request.user, PROJECTS_ONLY)
    project = get_object_or_404(Project, pk=project_id)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        # The form already wrote the cleaned values onto its instance; the service saves a fresh row.
        if _save(form, Project.objects.get(pk=project.pk)) is not None:
            messages.success(request, "Project settings saved.")
            return redirect("annotate:project-edit", project_id=project.pk)
    return _form_page(request, form, project)


@login_required
@require_POST
def guidelines_preview(request):
    """Sanitised HTML of the guidelines being written, for the form's preview."""
    admin_check(request.user, PROJECTS_ONLY)
    html = markdown_to_safe_html(request.POST.get("guidelines", ""))
    return HttpResponse(html or '<p class="muted">Nothing to preview yet.</p>')
