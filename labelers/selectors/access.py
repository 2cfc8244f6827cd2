"""Who may see what. Every view and API goes through these, so the rules live in one place."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotate.models import Membership
from core.permissions import admin_check, user_is_admin, user_is_reviewer
from core.roles import Role

__all__ = ["admin_check", "project_for_role", "project_member", "project_role", "user_is_admin",
           "user_is_reviewer"]


def project_role(*, user: AbstractBaseUser, project_id: int) -> str | None:
    """The user's role in the project, or None when they are not a member (admins are
    members of every project)."""
    if user_is_admin(user):
        return Role.ADMIN
    return Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True).first()


def project_for_role(*, user: AbstractBaseUser, project_id: int, roles=("admin", "reviewer", "labeler")):
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


def project_member(*, project, user_id: int):
    """The user `user_id` if they are a member of the project; else "not found" (Http404)."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or project_role(user=user, project_id=project.pk) is None:
        raise Http404("No such labeler in this project.")
    return user
