"""Authentication classes for the API: django-rest-knox tokens (stored as SHA-512 digests, so a
copy of the database holds no usable token) and DRF's session authentication, which steps aside
for a request that carries a token.

Kept apart from the views: DRF imports the classes named in its settings while its views module
loads. The OpenAPI extensions below tell drf-spectacular how each class authenticates.
"""
from django.utils import timezone
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth as knox_auth
from rest_framework import authentication, exceptions


class TokenAuthentication(knox_auth.TokenAuthentication):
    """knox's token authentication, with two changes: a header that is not UTF-8 is an invalid
    token (knox would raise UnicodeDecodeError, a 500), and only the presented token's expiry is
    checked per request (knox also reads all the user's other tokens to delete expired ones, a
    query on every API call; labelers.services.tokens.token_create deletes them instead)."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, which steps aside for a request that carries a token
    (`Authorization: Token …`): that request is the token's to authenticate (or to refuse, if
    the token is wrong), whatever session cookie it also carries, and it needs no CSRF token."""

    def authenticate(self, request):
        words = request.META.get("HTTP_AUTHORIZATION", "").split(None, 1)
        if words and words[0].lower() == "token":
            return None
        return super().authenticate(request)


class TokenScheme(KnoxTokenScheme):
    target_class = "core.authentication.TokenAuthentication"
    name = "tokenAuth"


class CookieScheme(SessionScheme):
    target_class = "core.authentication.SessionAuthentication"
