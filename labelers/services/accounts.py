"""Accounts and roles."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from annotate.models import Membership
from core.roles import Role


def roles_ensure() -> None:
    for role in Role.values:
        Group.objects.get_or_create(name=role)


@transaction.atomic
def user_create(*, username: str, password: str, role: str = Role.LABELER, email: str = ""):
    """Create (or update the password of) an account in the given global role."""
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; choose from {', '.join(Role.values)}.")
    roles_ensure()
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.is_staff = role == Role.ADMIN
    user.save()
    user.groups.add(Group.objects.get(name=role))
    return user


@transaction.atomic
def membership_set(*, project, user, role: str = Role.LABELER) -> Membership:
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; choose from {', '.join(Role.values)}.")
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership
