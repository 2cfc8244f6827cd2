"""Who may see what. Every view and API goes through these, so the rules live in one place."""
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotate.models import Membership
from core.permissions import admin_check, user_is_admin, user_is_reviewer
from core.roles import Role

__all__ = ["ADMINS", "ANY_ROLE", "STAFF", "admin_check", "project_and_role", "project_for_role", "project_member",
           "project_role", "task_for_role", "user_is_admin",
           "user_is_reviewer"]


def project_role(*, user: AbstractBaseUser, project_id: int) -> str | None:
    """The user's role in the project, or None when they are not a member (admins are
    members of every project)."""
    if user_is_admin(user):
        return Role.ADMIN
    return Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True).first()


ANY_ROLE = ("admin", "reviewer", "labeler")
STAFF = ("admin", "reviewer")
ADMINS = ("admin",)


def project_and_role(*, user: AbstractBaseUser, project_id: int, roles=ANY_ROLE):
    """(project, the user's role in it) when the user has one of `roles` there. Someone who is
    not a member gets "not found" (Http404), so ids reveal nothing; a member without the role
    gets PermissionDenied. The HTML views and the API both answer from this."""
    from annotate.models import Project

    project = Project.objects.filter(pk=project_id).first()
    role = project_role(user=user, project_id=project_id) if project else None
    if role is None:
        raise Http404("No such project for you.")
    if role not in roles:
        raise PermissionDenied("Only reviewers and admins of this project can see this.")
    return project, role


def project_for_role(*, user: AbstractBaseUser, project_id: int, roles=ANY_ROLE):
    """The project of project_and_role, for a page or an API that needs no role."""
    return project_and_role(user=user, project_id=project_id, roles=roles)[0]


def task_for_role(*, user: AbstractBaseUser, task_id: int, roles=ANY_ROLE):
    """A task of a project where the user has one of `roles`, with the same answers as
    project_and_role ("No such task." for a task of a project they are not in)."""
    from annotate.models import Task

    task = Task.objects.filter(pk=task_id).first()
    if task is None or project_role(user=user, project_id=task.project_id) is None:
        raise Http404("No such task.")
    project_and_role(user=user, project_id=task.project_id, roles=roles)
    return task


def project_member(*, project, user_id: int):
    """The user `user_id` if they are a member of the project; else "not found" (Http404)."""
    membership = Membership.objects.select_related("user").filter(project=project, user_id=user_id).first()
    if membership is None:
        raise Http404("No such labeler in this project.")
    return membership.user
