"""The built-in example datasets (data/examples): one click on the import page, or one field in
the API, imports the HH-RLHF sample as completed comparisons, with no file from outside the repo."""
import io
import json

import pytest
from rest_framework.test import APIClient

from annotate.models import Ranking, Task
from exports.importers.examples import EXAMPLES
from jobs.models import Job
from jobs.services import job_run

pytestmark = pytest.mark.django_db
HH = "hh-rlhf-harmless-base-dev"


def test_every_example_ships_with_its_license():
    for example in EXAMPLES.values():
        assert example.path.is_file(), example.path
        assert (example.path.parent / example.license.rsplit("/", 1)[-1]).is_file()


def _click_the_hh_rlhf_example(client, admin_user, project) -> Job:
    """The import page offers the example with its license; its button queues an import job."""
    client.force_login(admin_user)
    page = client.get(f"/exports/projects/{project.pk}/")
    assert b'name="example" value="hh-rlhf-harmless-base-dev"' in page.content
    assert b"Import Anthropic HH-RLHF harmless-base (dev sample)" in page.content and b"MIT" in page.content
    response = client.post(f"/exports/projects/{project.pk}/import/", {"example": HH})
    assert response.status_code == 302, response.content.decode()[-2000:]
    return Job.objects.get(kind="import")


def test_one_click_on_the_import_page_queues_the_hh_rlhf_example(client, admin_user, project):
    """The page's button queues the import job of the shipped file (the test below runs it whole)."""
    job = _click_the_hh_rlhf_example(client, admin_user, project)
    assert job.project_id == project.pk and job.status == "queued" and job.params["path"] == str(EXAMPLES[HH].path)
    assert job.params["kind"] == "preferences" and job.params["format"] == "hh-rlhf"


def test_one_click_on_the_import_page_imports_the_hh_rlhf_comparisons(client, admin_user, project):
    job = job_run(job_id=_click_the_hh_rlhf_example(client, admin_user, project).pk)
    assert job.status == "succeeded", job.error
    assert job.params["kind"] == "preferences" and job.params["format"] == "hh-rlhf"
    assert job.result["rankings_created"] == 1200
    assert Ranking.objects.filter(task__project=project, source="import:hh-rlhf").count() == 1200
    assert Task.objects.filter(project=project, state="complete").count() == 1200


def test_the_api_imports_an_example_by_name(admin_user, project):
    """The API queues the same import job as the page's button (whose run the tests above check)."""
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.post(f"/api/projects/{project.pk}/imports/", {"example": HH}, format="multipart")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "import" and job.project_id == project.pk and job.status == "queued"
    assert job.params["path"] == str(EXAMPLES[HH].path)
    assert job.params["kind"] == "preferences" and job.params["format"] == "hh-rlhf"


def test_bad_example_requests_are_a_400_with_a_sentence(admin_user, project, client):
    api = APIClient()
    api.force_authenticate(admin_user)
    unknown = api.post(f"/api/projects/{project.pk}/imports/", {"example": "mnist"}, format="multipart")
    assert unknown.status_code == 400 and "is not a valid choice" in json.dumps(unknown.json())
    wrong_kind = api.post(f"/api/projects/{project.pk}/imports/", {"example": HH, "kind": "prompts"}, format="multipart")
    assert wrong_kind.status_code == 400 and "holds preferences, not prompts" in json.dumps(wrong_kind.json())
    upload = io.BytesIO(b'{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    upload.name = "p.jsonl"
    both = api.post(f"/api/projects/{project.pk}/imports/", {"example": HH, "file": upload}, format="multipart")
    assert both.status_code == 400 and "either a file or an example, not both" in json.dumps(both.json())
    nothing = api.post(f"/api/projects/{project.pk}/imports/", {"kind": "prompts"}, format="multipart")
    assert nothing.status_code == 400 and "Choose a file to import" in json.dumps(nothing.json())
    client.force_login(admin_user)
    page = client.post(f"/exports/projects/{project.pk}/import/", {"kind": "prompts"})
    assert page.status_code == 400 and b"Choose a file to import, or one of the built-in examples." in page.content
    assert not Job.objects.exists()
