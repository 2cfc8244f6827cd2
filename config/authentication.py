"""Authentication classes for the API (kept apart from config.api, which imports DRF's views:
DRF imports the classes named in its settings while its views module loads)."""
import time
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from config.rows import row_objects

# token key -> (monotonic time it lapses, user id, the user row's values in _user_attnames() order).
_recent: dict[str, tuple[float, int, tuple]] = {}
RECENT_MAX = 10_000


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, which steps aside for a request that carries a token
    (`Authorization: Token …`): that request is the token's to authenticate (or to refuse, if
    the token is wrong), whatever session cookie it also carries. Loading the session's user
    first cost ~2 % of the instructions of a labeler's next + submit cycle. Requests without a token
    are authenticated, and CSRF-checked, as before."""

    def authenticate(self, request):
        words = request.META.get("HTTP_AUTHORIZATION", "").split(None, 1)
        if words and words[0].lower() == TokenAuthentication.keyword.lower():
            return None
        return super().authenticate(request)


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication with its lookup as one plain query (the ORM version compiled a
    join on every API request: ~1.9 ms of the ~6 ms a labeler's next-task call cost; see
    docs/benchmarks.md), remembered for API_TOKEN_CACHE_SECONDS (default 2 s) per process.

    A labeler's client calls twice a second or more; looking the token up once per call was ~9 %
    of the instructions of a labeler cycle and one statement in ten. Every request still gets a
    fresh User instance (nothing one request sets on it reaches another). Deleting a token or
    saving or deleting its user through the ORM (the admin site, services) forgets it at once in
    this process (signals below); other processes may still accept it for at most the TTL. Set 0
    to look every token up. Invalid tokens are never remembered. Same header, same errors, same
    (user, token) result as DRF's."""

    def authenticate_credentials(self, key):
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        User = get_user_model()
        now = time.monotonic()
        hit = _recent.get(key)
        if hit is not None and hit[0] > now:
            user = User.from_db(DEFAULT_DB_ALIAS, _user_attnames(), list(hit[2]))
        else:
            qn = connection.ops.quote_name
            users = row_objects(User, (
                f"SELECT u.* FROM {qn(User._meta.db_table)} u JOIN {qn(Token._meta.db_table)} t"
                f" ON t.{qn('user_id')} = u.{qn(User._meta.pk.column)} WHERE t.{qn('key')} = %s"), [key])
            if not users:
                raise exceptions.AuthenticationFailed(_("Invalid token."))
            user = users[0]
            ttl = settings.API_TOKEN_CACHE_SECONDS
            if ttl > 0 and user.is_active:
                if len(_recent) >= RECENT_MAX:
                    _recent.clear()
                _recent[key] = (now + ttl, user.pk, tuple(getattr(user, a) for a in _user_attnames()))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token(key=key, user=user)
        token._state.adding = False  # it is the stored row; nothing to save
        return user, token


@lru_cache(maxsize=1)
def _user_attnames() -> tuple[str, ...]:
    from django.contrib.auth import get_user_model

    return tuple(f.attname for f in get_user_model()._meta.concrete_fields)


def forget_token(sender, instance, **kwargs):
    _recent.pop(instance.key, None)


def forget_user(sender, instance, **kwargs):
    for key, entry in list(_recent.items()):
        if entry[1] == instance.pk:
            _recent.pop(key, None)


# Lazy senders ("app_label.Model"): this module loads while DRF reads its settings, maybe
# before the apps are ready.
post_delete.connect(forget_token, sender="authtoken.Token", dispatch_uid="config.authentication.forget_token")
post_save.connect(forget_user, sender=settings.AUTH_USER_MODEL, dispatch_uid="config.authentication.user_saved")
post_delete.connect(forget_user, sender=settings.AUTH_USER_MODEL, dispatch_uid="config.authentication.user_deleted")
