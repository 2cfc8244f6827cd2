"""The members page of a project (its admins): add an account with a role, change a role,
pause and unpause, remove, and create an account for a new labeler, whose generated password
is shown on this page once. Thin: labelers.services.members does the work."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate.models import Project
from core.permissions import user_is_admin
from core.roles import Role
from labelers.selectors.access import ADMINS, project_for_role, project_member
from labelers.selectors.members import project_members
from labelers.services import members as svc


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username",
                               widget=forms.TextInput(attrs={"list": "known-users", "autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.LABELER)


class AccountCreateForm(forms.Form):
    new_username = forms.CharField(max_length=150, label="Username",
                                   widget=forms.TextInput(attrs={"autocomplete": "off"}))
    new_role = forms.ChoiceField(choices=[(Role.LABELER, "Labeler"), (Role.REVIEWER, "Reviewer")],
                                 initial=Role.LABELER, label="Role")


def _known_usernames(admin, project) -> list[str]:
    """The add form's suggestions: active members of the other projects this admin administers
    (every project, for a site admin), not yet in this one. Never the whole site's accounts: a
    project admin learns no one they do not already work with."""
    administered = Project.objects.all() if user_is_admin(admin) else Project.objects.filter(
        memberships__user=admin, memberships__role=Role.ADMIN)
    return list(get_user_model().objects.filter(is_active=True, memberships__project__in=administered)
                .exclude(memberships__project=project).distinct().order_by("username")
                .values_list("username", flat=True)[:500])


def _page(request, project, add_form=None, create_form=None, created=None, status=200):
    known = _known_usernames(request.user, project)
    return render(request, "labelers/members.html", {
        "project": project, "members": project_members(project=project), "roles": Role.choices,
        "add_form": add_form or MemberAddForm(prefix="add"), "create_form": create_form or AccountCreateForm(),
        "created": created, "known_users": known,
    }, status=status)


def _errors(form, exc: ValidationError):
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            for message in errors:
                form.add_error(field if field in form.fields else None, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


@login_required
def members(request, project_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
    return _page(request, project)


@login_required
@require_POST
def member_add(request, project_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
    form = MemberAddForm(request.POST, prefix="add")
    if form.is_valid():
        try:
            svc.member_add(admin=request.user, project=project, username=form.cleaned_data["username"],
                           role=form.cleaned_data["role"])
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"{form.cleaned_data['username']} joined as {form.cleaned_data['role']}.")
            return redirect("labelers:members", project_id=project.pk)
    return _page(request, project, add_form=form, status=400)


@login_required
@require_POST
def account_create(request, project_id: int):
    project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
    form = AccountCreateForm(request.POST)
    if form.is_valid():
        try:
            user, password = svc.account_create(admin=request.user, project=project,
                                                username=form.cleaned_data["new_username"],
                                                role=form.cleaned_data["new_role"])
        except ValidationError as exc:
            _errors(form, exc)
        else:
            # Rendered, not redirected: the password exists only in this response, which no cache keeps.
            response = _page(request, project, created={"username": user.username, "password": password,
                                                        "role": form.cleaned_data["new_role"]})
            response["Cache-Control"] = "no-store"
            return response
    return _page(request, project, create_form=form, status=400)


@login_required
@require_POST
def member_change(request, project_id: int, user_id: int):
    """One endpoint per row's buttons: action = role | pause | unpause | remove."""
    project = project_for_role(user=request.user, project_id=project_id, roles=ADMINS)
    user = project_member(project=project, user_id=user_id)
    action = request.POST.get("action", "")
    try:
        if action == "role":
            role = request.POST.get("role", "")
            svc.member_role_set(admin=request.user, project=project, user=user, role=role)
            done = f"{user.username} is now {role}."
        elif action == "pause":
            svc.member_pause(admin=request.user, project=project, user=user, reason=request.POST.get("reason", ""))
            done = f"{user.username} is paused: they get no new tasks."
        elif action == "unpause":
            svc.member_unpause(admin=request.user, project=project, user=user)
            done = f"{user.username} can work again."
        elif action == "remove":
            svc.member_remove(admin=request.user, project=project, user=user)
            done = f"{user.username} was removed from {project.name}; their submissions stay."
        else:
            raise ValidationError("Unknown action.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect("labelers:members", project_id=project.pk)

