"""A project's members, managed by its admins: add people with a role, change the role, pause
and unpause, remove, and create an account for a new labeler (its password is generated and
shown once, never stored in clear)."""
from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Membership, Project
from annotate.services.assignments import leases_withdraw
from core.roles import Role
from labelers.services.accounts import membership_set, user_create
from labelers.services.quality import _require_admin, membership_resume

PASSWORD_BYTES = 12  # token_urlsafe: 16 characters


def _role_check(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"Choose a role: {', '.join(Role.labels)}."})


def _membership(project: Project, user, lock: bool = False) -> Membership:
    qs = Membership.objects.select_for_update() if lock else Membership.objects
    membership = qs.filter(project=project, user=user).first()
    if membership is None:
        raise ValidationError(f"{user.username} is not a member of {project.name}.")
    return membership


@transaction.atomic
def member_add(*, admin, project: Project, username: str, role: str = Role.LABELER) -> Membership:
    """Make an existing account a member of the project."""
    _require_admin(admin, project)
    _role_check(role)
    username = (username or "").strip()
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"There is no account named “{username}”; create one below."})
    if Membership.objects.filter(project=project, user=user).exists():
        raise ValidationError({"username": f"{username} is already a member; change their role in the list."})
    return membership_set(project=project, user=user, role=role)


@transaction.atomic
def member_role_set(*, admin, project: Project, user, role: str) -> Membership:
    _require_admin(admin, project)
    _role_check(role)
    membership = _membership(project, user, lock=True)
    if membership.user_id == admin.pk and role != Role.ADMIN and membership.role == Role.ADMIN:
        raise ValidationError("You cannot take your own admin role away; ask another admin.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_pause(*, admin, project: Project, user, reason: str = "") -> Membership:
    """Stop the member's work: no new tasks, and a task they hold goes back to the pool now (an
    answer to it is refused while they are paused)."""
    _require_admin(admin, project)
    membership = _membership(project, user, lock=True)
    if not membership.is_paused:
        membership.is_paused = True
        membership.paused_reason = (reason or "").strip()[:500] or f"paused by {admin.username}"
        membership.save(update_fields=["is_paused", "paused_reason"])
        leases_withdraw(project=project, user=user)
    return membership


def member_unpause(*, admin, project: Project, user) -> Membership:
    return membership_resume(admin=admin, project=project, user=user)


@transaction.atomic
def member_remove(*, admin, project: Project, user) -> None:
    """Take the member out of the project. Their submissions stay; a task they hold goes back
    to the pool now instead of when its lease would have run out."""
    _require_admin(admin, project)
    membership = _membership(project, user, lock=True)
    if user.pk == admin.pk:
        raise ValidationError("You cannot remove yourself; ask another admin.")
    # Each task, then its assignment, after the membership lock: the lock order of the lease path.
    leases_withdraw(project=project, user=user)
    membership.delete()


@transaction.atomic
def account_create(*, admin, project: Project, username: str, role: str = Role.LABELER) -> tuple[object, str]:
    """A new account, member of the project in `role`; returns (user, password). The password is
    generated here and returned once: only its hash is stored."""
    _require_admin(admin, project)
    _role_check(role)
    username = (username or "").strip()
    if not username:
        raise ValidationError({"new_username": "Choose a username."})
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise ValidationError({"new_username": "A username is letters, digits and @ . + - _ only."})
    if len(username) > 150:
        raise ValidationError({"new_username": "A username is at most 150 characters."})
    if get_user_model().objects.filter(username__iexact=username).exists():
        raise ValidationError({"new_username": f"The username “{username}” is taken; add that account above "
                                               "or choose another name."})
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    # The global role: a new account starts as a labeler (or reviewer); admins are made by admins.
    user = user_create(username=username, password=password,
                       role=Role.REVIEWER if role == Role.REVIEWER else Role.LABELER)
    membership_set(project=project, user=user, role=role)
    return user, password
