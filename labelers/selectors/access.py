"""Who may see what. Every view and API goes through these, so the rules live in one place."""
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from labelers.models import Membership, Role


def user_is_admin(user: AbstractBaseUser) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.groups.filter(name=Role.ADMIN).exists()))


def admin_check(user: AbstractBaseUser, message: str = "Admins only.") -> None:
    """For admin-only pages: a 403 with `message` unless the user is an admin."""
    if not user_is_admin(user):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied(message)


def user_is_reviewer(user: AbstractBaseUser) -> bool:
    return user_is_admin(user) or bool(user.is_authenticated and user.groups.filter(name=Role.REVIEWER).exists())


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
