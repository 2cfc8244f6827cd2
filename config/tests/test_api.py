"""The API's shell: OpenAPI schema, Swagger UI, session and token authentication."""
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
    """core.authentication.SessionAuthentication steps aside when a token is sent: the token's
    user, or a refusal for a wrong token; without a token the session still authenticates, CSRF-checked."""
    from jobs.services import job_create
    from labelers.services.tokens import token_create

    alice, bob = make_user("alice"), make_user("bob")
    alices = job_create(kind="noop", user=alice, enqueue=False)
    bobs = job_create(kind="noop", user=bob, enqueue=False)
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(alice)
    assert [j["id"] for j in api.get("/api/jobs/").json()] == [alices.pk]
    assert api.post(f"/api/jobs/{alices.pk}/cancel/").status_code == 403  # session without CSRF token

    api.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=bob)[1]}")
    assert [j["id"] for j in api.get("/api/jobs/").json()] == [bobs.pk]
    assert api.post(f"/api/jobs/{bobs.pk}/cancel/").json()["status"] == "cancelled"  # no CSRF for tokens

    api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    wrong = api.get("/api/jobs/")
    # refused (403, not 401: the first authenticator, the session's, sends no WWW-Authenticate)
    assert wrong.status_code == 403 and wrong.json()["detail"] == "Invalid token."
