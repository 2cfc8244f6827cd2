"""A multipart body from a client nobody signed in is not parsed before the view refuses it, and
where Django reads one anyway (the CSRF check, the login form) its files are skipped, never
spooled to disk. Signed-in bodies are still checked for NUL characters, by session or by token."""
import io

import pytest
from django.core.files import uploadhandler
from django.http import multipartparser
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
BIG = 3 * 2**20  # over FILE_UPLOAD_MAX_MEMORY_SIZE: a temporary file on disk, if it were kept


@pytest.fixture
def spy(monkeypatch):
    """Counts multipart parses and the files the memory and temporary-file handlers take."""
    seen = {"parsed": 0, "files": 0}
    parse = multipartparser.MultiPartParser.parse

    def counting_parse(self):
        seen["parsed"] += 1
        return parse(self)

    def counting(new_file):
        def wrapped(self, *args, **kwargs):
            seen["files"] += 1
            return new_file(self, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", counting_parse)
    for handler in (uploadhandler.MemoryFileUploadHandler, uploadhandler.TemporaryFileUploadHandler):
        monkeypatch.setattr(handler, "new_file", counting(handler.new_file))
    return seen


def _upload(name="prompts.txt"):
    upload = io.BytesIO(b"x" * BIG)
    upload.name = name
    return upload


def test_an_anonymous_upload_to_the_import_page_and_api_is_not_parsed(client, project, spy):
    page = client.post(f"/exports/projects/{project.pk}/import/", {"file": _upload(), "kind": "prompts"})
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]
    api = APIClient().post(f"/api/projects/{project.pk}/imports/", {"file": _upload(), "kind": "prompts"},
                           format="multipart")
    assert api.status_code in (401, 403)
    assert spy == {"parsed": 0, "files": 0}


def test_where_django_reads_an_anonymous_body_its_files_are_skipped(project, spy):
    """The CSRF check reads its token from a form body once a CSRF cookie is set (any client can
    set one), and the login form reads the body of anonymous clients."""
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    for url in ("/accounts/login/", f"/exports/projects/{project.pk}/import/"):
        response = client.post(url, {"csrfmiddlewaretoken": token, "username": "x", "password": "y",
                                     "file": _upload(), "kind": "prompts"})
        assert response.status_code in (200, 302), (url, response.status_code)
    assert spy["parsed"] >= 2 and spy["files"] == 0


def test_a_signed_in_upload_is_kept_and_checked_for_nul(client, admin_user, project, spy):
    from labelers.services.tokens import token_create

    client.force_login(admin_user)
    nul = client.post(f"/exports/projects/{project.pk}/import/", {"file": _upload(), "kind": "prompts",
                                                                  "source": "a\x00b"})
    assert nul.status_code == 400 and "contains a NUL character" in nul.content.decode()
    assert spy["files"] >= 1  # parsed for the session's user, file and all
    _, token = token_create(user=admin_user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    refused = api.post(f"/api/projects/{project.pk}/imports/", {"file": _upload(), "kind": "prompts",
                                                                "format": "txt\x00"}, format="multipart")
    assert refused.status_code == 400 and "contains a NUL character" in refused.json()["format"][0]
    small = io.BytesIO(b"Why is the sky blue?\n")
    small.name = "prompts.txt"
    accepted = api.post(f"/api/projects/{project.pk}/imports/", {"file": small, "kind": "prompts"},
                        format="multipart")
    assert accepted.status_code == 202, accepted.content
