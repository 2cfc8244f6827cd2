"""Authentication classes for the API (kept apart from config.api, which imports DRF's views:
DRF imports the classes named in its settings while its views module loads)."""
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from config.rows import row_objects


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, which steps aside for a request that carries a token
    (`Authorization: Token …`): that request is the token's to authenticate (or to refuse, if
    the token is wrong), whatever session cookie it also carries. Loading the session's user
    first cost ~3 % of the CPU of every token-authenticated API call. Requests without a token
    are authenticated, and CSRF-checked, as before."""

    def authenticate(self, request):
        words = request.META.get("HTTP_AUTHORIZATION", "").split(None, 1)
        if words and words[0].lower() == TokenAuthentication.keyword.lower():
            return None
        return super().authenticate(request)


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication with its lookup as one plain query: the ORM version compiled a
    join on every API request (~1.9 ms of the ~6 ms a labeler's next-task call cost; see
    docs/benchmarks.md). Same header, same errors, same (user, token) result."""

    def authenticate_credentials(self, key):
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        User = get_user_model()
        qn = connection.ops.quote_name
        users = row_objects(User, (
            f"SELECT u.* FROM {qn(User._meta.db_table)} u JOIN {qn(Token._meta.db_table)} t"
            f" ON t.{qn('user_id')} = u.{qn(User._meta.pk.column)} WHERE t.{qn('key')} = %s"), [key])
        if not users:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = users[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token(key=key, user=user)
        token._state.adding = False  # it is the stored row; nothing to save
        return user, token
