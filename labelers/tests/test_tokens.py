"""API tokens (hashed, listed, revoked, revoked by a password change), login lockouts (django-axes,
shared by the login page and the token endpoint) and the API's throttles."""
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db
PASSWORD = "pw-12345678"


def _obtain(username, password, ip="10.0.0.1"):
    return APIClient(REMOTE_ADDR=ip).post("/api/auth/token/", {"username": username, "password": password},
                                          format="json")


def test_a_token_is_stored_as_a_digest_listed_and_revoked_by_its_owner_only(make_user):
    from knox.models import AuthToken

    alice, bob = make_user("alice"), make_user("bob")
    got = _obtain("alice", PASSWORD)
    assert got.status_code == 200, got.content
    token = got.json()["token"]
    row = AuthToken.objects.get(user=alice)
    assert token not in (row.digest, row.token_key) and token.startswith(row.token_key)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    listed = api.get("/api/auth/tokens/")
    assert listed.status_code == 200 and [t["key"] for t in listed.json()] == [row.token_key]
    assert "token" not in listed.json()[0]
    second = api.post("/api/auth/tokens/")
    assert second.status_code == 201 and second.json()["token"] != token

    bobs = APIClient()
    bobs.force_authenticate(bob)
    assert bobs.delete(f"/api/auth/tokens/{row.token_key}/").status_code == 404
    assert bobs.delete("/api/auth/tokens/%00/").status_code == 404  # not a key: no database lookup
    assert api.delete(f"/api/auth/tokens/{row.token_key}/").status_code == 204
    assert api.get("/api/auth/tokens/").status_code == 403  # the token used here is gone
    api.credentials(HTTP_AUTHORIZATION=f"Token {second.json()['token']}")
    assert [t["key"] for t in api.get("/api/auth/tokens/").json()] == [second.json()["key"]]


def test_changing_the_password_revokes_every_token(make_user, client):
    from labelers.services.tokens import token_create, tokens_for_user

    alice, bob = make_user("alice"), make_user("bob")
    token_create(user=alice), token_create(user=alice), token_create(user=bob)
    client.force_login(alice)
    changed = client.post("/accounts/password_change/", {
        "old_password": PASSWORD, "new_password1": "new-pw-87654321", "new_password2": "new-pw-87654321"})
    assert changed.status_code == 302, changed.content
    assert not tokens_for_user(user=alice).exists() and tokens_for_user(user=bob).count() == 1
    # A save that does not change the password keeps the tokens.
    bob.first_name = "Bob"
    bob.save()
    assert tokens_for_user(user=bob).count() == 1
    bob.set_password("another-pw-1234")
    bob.save()
    assert not tokens_for_user(user=bob).exists()


def test_fifty_wrong_passwords_lock_the_login_page_even_for_the_right_one(make_user, client):
    make_user("alice")
    for _ in range(50):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
    # Right password, other address: the account is locked.
    refused = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2")
    assert refused.status_code == 429
    assert b"Too many failed login attempts" in refused.content and b"locked for 15 minutes" in refused.content
    assert "_auth_user_id" not in client.session


def test_wrong_passwords_for_many_accounts_lock_their_address(make_user, client):
    make_user("carol")
    for i in range(12):
        client.post("/accounts/login/", {"username": f"user{i}", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    assert client.post("/accounts/login/", {"username": "carol", "password": PASSWORD},
                       REMOTE_ADDR="10.0.0.9").status_code == 429
    ok = client.post("/accounts/login/", {"username": "carol", "password": PASSWORD}, REMOTE_ADDR="10.0.0.10")
    assert ok.status_code == 302


def test_the_token_endpoint_shares_the_lockout_and_answers_json(make_user, client):
    make_user("alice")
    for _ in range(50):
        assert _obtain("alice", "wrong").status_code in (400, 429)
    refused = _obtain("alice", PASSWORD, ip="10.0.0.3")
    assert refused.status_code == 429 and "Too many failed login attempts" in refused.json()["detail"]
    # ...and the login page refuses the same account.
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 429


DOORS = ["login page", "token endpoint"]


@pytest.mark.parametrize("guess_door", DOORS)
@pytest.mark.parametrize("login_door", DOORS)
def test_logging_in_to_ones_own_account_does_not_wipe_guesses_at_another(make_user, client, guess_door, login_door):
    """From one address: 9 wrong passwords for the victim, one good login to the attacker's own
    account, again. The good logins must not clear the count, so the victim's account locks."""
    from axes.models import AccessAttempt
    from django.conf import settings
    from django.utils import timezone

    make_user("victim"), make_user("mallory")

    def attempt(door, username, password, ip="10.0.0.66"):
        if door == "login page":
            return client.post("/accounts/login/", {"username": username, "password": password},
                               REMOTE_ADDR=ip).status_code
        return _obtain(username, password, ip=ip).status_code

    assert {attempt(guess_door, "victim", "wrong") for _ in range(9)} <= {200, 400}  # refused, not yet locked
    assert attempt(login_door, "mallory", PASSWORD) in (200, 302)
    for _ in range(9):
        attempt(guess_door, "victim", "wrong")
    attempt(login_door, "mallory", PASSWORD)
    for door in DOORS:
        assert attempt(door, "victim", PASSWORD, ip="10.0.0.77") == 429, door
    # The failures lapse with the cool-off, not with someone's success.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME * 1.01)
    assert attempt(login_door, "victim", PASSWORD, ip="10.0.0.77") in (200, 302)


def test_a_token_header_that_is_not_utf8_is_refused_not_a_500():
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token \xff\xfe")
    response = api.get("/api/jobs/")
    assert response.status_code == 403 and response.json()["detail"] == "Invalid token."


@pytest.fixture
def low_rates(monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "3/min", "token": "2/min"})
    cache.clear()
    yield
    cache.clear()


def test_api_requests_are_throttled_per_user(make_user, low_rates):
    api, other = APIClient(), APIClient()
    api.force_authenticate(make_user("alice"))
    other.force_authenticate(make_user("bob"))
    assert [api.get("/api/jobs/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert "throttled" in api.get("/api/jobs/").json()["detail"].lower()
    assert other.get("/api/jobs/").status_code == 200


def test_the_token_endpoint_is_throttled_per_address(make_user, low_rates):
    make_user("alice")
    assert [_obtain("alice", PASSWORD).status_code for _ in range(3)] == [200, 200, 429]
    assert _obtain("alice", PASSWORD, ip="10.0.0.4").status_code == 200


def test_the_tokens_page_creates_shows_once_and_revokes(make_user, client):
    from knox.models import AuthToken

    alice = make_user("alice")
    client.force_login(alice)
    assert b"No tokens." in client.get("/labelers/tokens/").content
    created = client.post("/labelers/tokens/new/")
    assert created.status_code == 201
    html = created.content.decode()
    token = html.split('data-testid="new-token">')[1].split("<")[0]
    row = AuthToken.objects.get(user=alice)
    assert token.startswith(row.token_key) and len(token) == 64
    listing = client.get("/labelers/tokens/").content.decode()
    assert row.token_key in listing and token not in listing
    other = make_user("bob")
    client.force_login(other)
    client.post(f"/labelers/tokens/{row.token_key}/revoke/")
    assert AuthToken.objects.filter(user=alice).exists()
    client.force_login(alice)
    assert client.post(f"/labelers/tokens/{row.token_key}/revoke/").status_code == 302
    assert not AuthToken.objects.filter(user=alice).exists()


def test_no_cache_keeps_a_new_token(make_user, client):
    alice = make_user("alice")
    client.force_login(alice)
    page = client.post("/labelers/tokens/new/")
    api = APIClient()
    api.force_authenticate(alice)
    for response in (page, _obtain("alice", PASSWORD), api.post("/api/auth/tokens/")):
        assert response.status_code in (200, 201) and "no-store" in response["Cache-Control"], response.headers


def test_a_lapsed_token_is_refused_and_deleted(make_user):
    from datetime import timedelta

    from django.utils import timezone
    from knox.models import AuthToken

    from labelers.services.tokens import token_create, tokens_for_user

    alice = make_user("alice")
    old, old_token = token_create(user=alice)
    AuthToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {old_token}")
    assert api.get("/api/auth/tokens/").status_code == 403
    assert not AuthToken.objects.filter(pk=old.pk).exists()
    other, _ = token_create(user=alice)
    AuthToken.objects.filter(pk=other.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    token_create(user=alice)  # creating a token clears the lapsed ones
    assert not AuthToken.objects.filter(pk=other.pk).exists() and tokens_for_user(user=alice).count() == 1


def test_behind_a_proxy_lockouts_count_the_address_the_proxy_saw(make_user, client, settings):
    settings.NUM_PROXIES = 1
    make_user("carol")
    proxy = {"REMOTE_ADDR": "10.9.9.9"}
    for i in range(12):
        client.post("/accounts/login/", {"username": f"user{i}", "password": "wrong"},
                    HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    assert client.post("/accounts/login/", {"username": "carol", "password": PASSWORD},
                       HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy).status_code == 429
    # Another client through the same proxy is not locked out by the first one's failures.
    assert client.post("/accounts/login/", {"username": "carol", "password": PASSWORD},
                       HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy).status_code == 302
