"""API tokens (django-rest-knox): create, list and revoke a user's own tokens. A token is shown
once, when it is created; the database keeps its SHA-512 digest and its first characters (the
key prefix), by which its owner lists and revokes it. Changing the password revokes them all
(labelers.signals)."""
from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings


def tokens_for_user(*, user) -> QuerySet:
    """The user's tokens that still work, newest first."""
    now = timezone.now()
    return AuthToken.objects.filter(Q(expiry__isnull=True) | Q(expiry__gt=now), user=user).order_by("-created")


@transaction.atomic
def token_create(*, user) -> tuple[AuthToken, str]:
    """A new token for the user: (the row, the token text, which is never stored). The user's
    lapsed tokens are deleted here (authentication only checks the token it is given)."""
    AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and tokens_for_user(user=user).count() >= limit:
        raise ValidationError(f"You already have {limit} tokens; revoke one before creating another.")
    return AuthToken.objects.create(user=user)


@transaction.atomic
def token_revoke(*, user, token_key: str) -> int:
    """Revoke the user's token(s) with this key prefix; someone else's is "not found"."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    if not deleted:
        raise ObjectDoesNotExist("No such token of yours.")
    return deleted


def tokens_revoke_all(*, user) -> int:
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
