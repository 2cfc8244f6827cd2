"""The API and the admin pages: admins only; export → job → download; import through a
multipart upload; the pages show progress and never render labels as HTML."""
import io
import json
import zipfile

import pytest
from rest_framework.test import APIClient

from annotate.models import Prompt
from exports.models import ExportSnapshot
from jobs.models import Job
from jobs.services import job_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def test_labelers_and_anonymous_users_are_refused(project, labeler, labelled):
    client = APIClient()
    assert client.get(f"/api/projects/{project.pk}/exports/").status_code in (401, 403)
    client.force_authenticate(labeler)
    response = client.post(f"/api/projects/{project.pk}/exports/", {"options": {}}, format="json")
    assert response.status_code == 403 and "Only admins" in response.json()["detail"]
    assert not Job.objects.exists()
    assert client.post(f"/api/projects/{project.pk}/imports/", {}).status_code == 403


def test_export_through_the_api_and_download(api, project, labelled):
    response = api.post(f"/api/projects/{project.pk}/exports/",
                        {"options": {"formats": ["preference", "ranked_groups"], "test_ratio": 0}}, format="json")
    assert response.status_code == 202, response.content
    job = job_run(job_id=response.json()["id"])
    assert job.status == "succeeded"
    listing = api.get(f"/api/projects/{project.pk}/exports/").json()
    assert [s["version"] for s in listing] == [1]
    snap_id = listing[0]["id"]
    detail = api.get(f"/api/exports/{snap_id}/").json()
    assert detail["manifest"]["splits"]["preference"]["train"] == 36 and detail["job"] == job.pk
    one = api.get(f"/api/exports/{snap_id}/download/", {"file": "preference/train.jsonl"})
    assert one.status_code == 200 and one["Content-Type"] == "application/octet-stream"  # as the schema says
    lines = b"".join(one.streaming_content).decode().splitlines()
    assert len(lines) == 36 and set(json.loads(lines[0])) == {"prompt", "chosen", "rejected"}
    archive = api.get(f"/api/exports/{snap_id}/download/")
    assert archive["Content-Disposition"].endswith('-v1.zip"') and archive["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as z:
        names = z.namelist()
        assert any(n.endswith("/manifest.json") for n in names) and any(n.endswith("/README.md") for n in names)
        member = next(n for n in names if n.endswith("preference/train.jsonl"))
        assert z.read(member).decode().splitlines() == lines
    bad = api.get(f"/api/exports/{snap_id}/download/", {"file": "../../../etc/passwd"})
    assert bad.status_code == 400 and "is not a file of this snapshot" in json.dumps(bad.json())


def test_bad_export_options_are_a_400_naming_the_field(api, project):
    response = api.post(f"/api/projects/{project.pk}/exports/", {"options": {"pairs": "some"}}, format="json")
    assert response.status_code == 400 and "Choose one of all, best_vs_rest" in response.json()["pairs"][0]
    assert not Job.objects.exists()


def test_import_through_the_api(api, project):
    body = "\n".join(json.dumps({"prompt": f"Imported prompt {i}"}) for i in range(3)).encode()
    upload = io.BytesIO(body)
    upload.name = "prompts.jsonl"
    response = api.post(f"/api/projects/{project.pk}/imports/", {"file": upload, "kind": "prompts"}, format="multipart")
    assert response.status_code == 202, response.content
    job = job_run(job_id=response.json()["id"])
    assert job.status == "succeeded" and job.result["prompts_created"] == 3
    assert Prompt.objects.filter(project=project).count() == 3
    bad = io.BytesIO(b'{"prompt": "ok"}\n{"prompt": \n')
    bad.name = "bad.jsonl"
    response = api.post(f"/api/projects/{project.pk}/imports/", {"file": bad, "kind": "prompts"}, format="multipart")
    job = job_run(job_id=response.json()["id"])
    assert job.status == "failed" and "line 2: invalid JSON" in job.error
    assert Prompt.objects.filter(project=project).count() == 3
    wrong = io.BytesIO(b"x")
    wrong.name = "x.csv"
    response = api.post(f"/api/projects/{project.pk}/imports/", {"file": wrong, "kind": "preferences", "format": "csv"},
                        format="multipart")
    assert response.status_code == 400 and "preferences are imported from trl, hh-rlhf" in json.dumps(response.json())


def test_admin_pages(client, admin_user, labeler, project, labelled):
    client.force_login(labeler)
    assert client.get(f"/exports/projects/{project.pk}/").status_code == 403
    client.force_login(admin_user)
    page = client.get(f"/exports/projects/{project.pk}/")
    assert page.status_code == 200 and b"No snapshot yet" in page.content
    response = client.post(f"/exports/projects/{project.pk}/export/", {
        "formats": ["preference", "raw"], "file_type": "jsonl", "test_ratio": "0.1", "pairs": "all", "margin": "none",
        "merge": "separate", "min_submissions": "1", "exclude_cant_judge": "on", "include_imported": "on"})
    assert response.status_code == 302
    job = Job.objects.get(kind="export")
    running = client.get(response["Location"])
    assert b'hx-trigger="every 2s"' in running.content and b"Queued" in running.content
    job_run(job_id=job.pk)
    done = client.get(response["Location"])
    assert b'hx-trigger="every 2s"' not in done.content and b"is ready" in done.content
    snapshot = ExportSnapshot.objects.get()
    detail = client.get(f"/exports/{snapshot.pk}/")
    assert b"Dataset card" in detail.content and b"preference/train.jsonl" in detail.content
    bad = client.post(f"/exports/projects/{project.pk}/export/", {"formats": ["preference"], "file_type": "jsonl",
                                                                   "test_ratio": "3", "pairs": "all", "margin": "none",
                                                                   "merge": "separate", "min_submissions": "1"})
    assert bad.status_code == 400 and b"Ensure this value is less than or equal to 1" in bad.content


def test_labels_are_never_rendered_as_html(client, admin_user, project):
    from annotate.services.projects import project_create

    evil = project_create(name="<script>alert(1)</script>", task_kinds=["ranking"])
    client.force_login(admin_user)
    upload = io.BytesIO(b'{"prompt": "<img src=x onerror=alert(1)>", "chosen": "a", "rejected": "b"}\n')
    upload.name = "p.jsonl"
    response = client.post(f"/exports/projects/{evil.pk}/import/", {"file": upload, "kind": "preferences"})
    job = job_run(job_id=Job.objects.get(kind="import").pk)
    assert response.status_code == 302 and job.status == "succeeded"
    from exports.tests.conftest import run_export

    snapshot, _ = run_export(evil, formats=["preference"])
    page = client.get(f"/exports/{snapshot.pk}/")
    assert b"<script>alert(1)</script>" not in page.content and b"&lt;script&gt;" in page.content


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_export_and_import_forms_say_the_job_waits(client, admin_user, project, broker_down):
    client.force_login(admin_user)
    exported = client.post(f"/exports/projects/{project.pk}/export/", {
        "formats": ["preference"], "file_type": "jsonl", "test_ratio": "0.1", "pairs": "all", "margin": "none",
        "merge": "separate", "min_submissions": "1"}, follow=True)
    upload = io.BytesIO(b"Why is the sky blue?\n")
    upload.name = "prompts.txt"
    imported = client.post(f"/exports/projects/{project.pk}/import/", {"file": upload, "kind": "prompts"}, follow=True)
    for response, kind in ((exported, "export"), (imported, "import")):
        job = Job.objects.get(kind=kind)
        assert job.status == "queued" and job.sent_at is None  # saved, for the sweeper to send
        assert response.status_code == 200 and response.redirect_chain[-1][0] == f"/exports/jobs/{job.pk}/"
        assert (f"Job {job.pk} is saved, but the task queue is unreachable (OperationalError): it is sent again "
                "automatically and starts once the queue is back.") in response.content.decode()
