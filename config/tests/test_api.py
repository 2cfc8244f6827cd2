"""The API's shell: OpenAPI schema, Swagger UI, session and token authentication."""
from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_schema_and_docs_are_served(client, admin_user):
    client.force_login(admin_user)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"openapi" in schema.content
    assert b"/api/jobs/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_token_authentication(admin_user):
    api = APIClient()
    assert api.get("/api/jobs/").status_code in (401, 403)
    token = api.post("/api/auth/token/", {"username": "admin", "password": "pw-12345678"}, format="json")
    assert token.status_code == 200, token.content
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert api.get("/api/jobs/").status_code == 200
    bad = APIClient().post("/api/auth/token/", {"username": "admin", "password": "wrong"}, format="json")
    assert bad.status_code == 400


def test_labeler_sees_only_own_jobs(make_user, admin_user):
    from jobs.services import job_create

    labeler = make_user("someone")
    mine = job_create(kind="noop", user=labeler, enqueue=False)
    job_create(kind="noop", user=admin_user, enqueue=False)
    api = APIClient()
    api.force_authenticate(labeler)
    assert [j["id"] for j in api.get("/api/jobs/").json()] == [mine.pk]
    other = api.get(f"/api/jobs/{mine.pk + 1}/")
    assert other.status_code == 404
    assert api.post(f"/api/jobs/{mine.pk}/cancel/").json()["status"] == "cancelled"


def test_a_token_request_is_the_tokens_whatever_session_it_carries(make_user):
    """config.authentication.SessionAuthentication steps aside when a token is sent: the token's
    user, or a refusal for a wrong token; without a token the session still authenticates, CSRF-checked."""
    from rest_framework.authtoken.models import Token

    from jobs.services import job_create

    alice, bob = make_user("alice"), make_user("bob")
    alices = job_create(kind="noop", user=alice, enqueue=False)
    bobs = job_create(kind="noop", user=bob, enqueue=False)
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(alice)
    assert [j["id"] for j in api.get("/api/jobs/").json()] == [alices.pk]
    assert api.post(f"/api/jobs/{alices.pk}/cancel/").status_code == 403  # session without CSRF token

    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")
    assert [j["id"] for j in api.get("/api/jobs/").json()] == [bobs.pk]
    assert api.post(f"/api/jobs/{bobs.pk}/cancel/").json()["status"] == "cancelled"  # no CSRF for tokens

    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    wrong = api.get("/api/jobs/")
    # refused (403, not 401: the first authenticator, the session's, sends no WWW-Authenticate)
    assert wrong.status_code == 403 and wrong.json()["detail"] == "Invalid token."


def test_a_valid_token_is_remembered_for_a_moment_and_forgotten_when_revoked(make_user, settings, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from rest_framework.exceptions import AuthenticationFailed

    from config import authentication

    auth = authentication.TokenAuthentication()
    alice, bob = make_user("alice"), make_user("bob")
    key = Token.objects.create(user=alice).key
    with CaptureQueriesContext(connection) as first:
        user, token = auth.authenticate_credentials(key)
    with CaptureQueriesContext(connection) as again:
        user2, _ = auth.authenticate_credentials(key)
    assert len(first) == 1 and len(again) == 0
    assert user == user2 == alice and user is not user2 and token.key == key  # a fresh instance per request
    assert user2.username == "alice" and user2.is_active and user2._state.db == "default"

    # Revoked through the ORM (the admin site, services): refused at once.
    Token.objects.filter(key=key).delete()
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        auth.authenticate_credentials(key)
    key = Token.objects.create(user=bob).key
    auth.authenticate_credentials(key)
    bob.is_active = False
    bob.save()
    with pytest.raises(AuthenticationFailed, match="inactive"):
        auth.authenticate_credentials(key)

    # Revoked behind this process's back (another process, raw SQL): accepted until the TTL lapses.
    carol = make_user("carol")
    key = Token.objects.create(user=carol).key
    auth.authenticate_credentials(key)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM authtoken_token WHERE key = %s", [key])
    assert auth.authenticate_credentials(key)[0] == carol
    now = authentication.time.monotonic()
    later = now + settings.API_TOKEN_CACHE_SECONDS + 0.1
    monkeypatch.setattr(authentication, "time", SimpleNamespace(monotonic=lambda: later))
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        auth.authenticate_credentials(key)

    # 0: every token is looked up.
    settings.API_TOKEN_CACHE_SECONDS = 0
    key = Token.objects.create(user=make_user("dave")).key
    for _ in range(2):
        with CaptureQueriesContext(connection) as each:
            auth.authenticate_credentials(key)
        assert len(each) == 1
