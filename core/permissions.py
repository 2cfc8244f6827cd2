"""Who is an admin or a reviewer, for every app's views and APIs: one set of rules and one DRF
permission class."""
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from core.roles import Role


def user_is_admin(user: AbstractBaseUser) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.groups.filter(name=Role.ADMIN).exists()))


def user_is_reviewer(user: AbstractBaseUser) -> bool:
    return user_is_admin(user) or bool(user.is_authenticated and user.groups.filter(name=Role.REVIEWER).exists())


def admin_check(user: AbstractBaseUser, message: str = "Admins only.") -> None:
    """For admin-only pages: a 403 with `message` unless the user is an admin."""
    if not user_is_admin(user):
        raise PermissionDenied(message)


class IsRanklabAdmin(BasePermission):
    """Admins only (a superuser, or a member of the admin group); set `message` on a subclass to
    say what the caller tried to do."""

    message = "Only admins may do this."

    def has_permission(self, request, view):
        return user_is_admin(request.user)
