"""Who may see what. Every view and API goes through these, so the rules live in one place."""
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from core.permissions import admin_check, user_is_admin, user_is_reviewer
from labelers.models import Membership, Role

__all__ = ["admin_check", "project_role", "projects_for_user", "user_is_admin", "user_is_reviewer"]


def project_role(*, user: AbstractBaseUser, project_id: int) -> str | None:
    """The user's role in the project, or None when they are not a member (admins are
    members of every project)."""
    if user_is_admin(user):
        return Role.ADMIN
    return Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True).first()


def projects_for_user(*, user: AbstractBaseUser) -> QuerySet:
    from annotate.models import Project

    if user_is_admin(user):
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()
