"""Import limits: the upload size, the decompressed size and the record count are capped by
settings, and a long read reports progress by bytes, so a file of blank lines can be cancelled."""
import gzip
import io
import json

import pytest

from annotate.models import Prompt
from exports.importers.reader import ImportFailure
from exports.services.imports import import_file, import_options_check

pytestmark = pytest.mark.django_db


def _import(project, path, progress=None):
    options = import_options_check(kind="prompts", fmt="jsonl", filename=str(path))
    return import_file(project=project, path=path, options=options, progress=progress)


def _gzip_of_newlines(path, megabytes: int):
    with gzip.open(path, "wb", compresslevel=1) as f:
        for _ in range(megabytes):
            f.write(b"\n" * 2**20)
    return path


def test_a_file_that_decompresses_beyond_the_cap_is_refused(project, settings, tmp_path):
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 3 * 2**20
    path = _gzip_of_newlines(tmp_path / "bomb.jsonl.gz", 8)
    assert path.stat().st_size < 100_000
    with pytest.raises(ImportFailure, match="IMPORT_MAX_DECOMPRESSED_BYTES"):
        _import(project, path)


def test_more_records_than_the_cap_are_refused_and_nothing_is_written(project, settings, tmp_path):
    settings.IMPORT_MAX_RECORDS = 3
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Prompt {i}"}) + "\n" for i in range(5)))
    with pytest.raises(ImportFailure, match="more than 3 records"):
        _import(project, path)
    assert not Prompt.objects.exists()
    settings.IMPORT_MAX_RECORDS = 5
    assert _import(project, path)["prompts_created"] == 5


class Cancelled(Exception):
    pass


def test_progress_is_by_bytes_and_a_cancel_stops_a_file_of_blank_lines(project, tmp_path):
    path = _gzip_of_newlines(tmp_path / "blank.jsonl.gz", 20)
    seen = []

    def progress(fraction, message):
        seen.append((fraction, message))
        if len(seen) == 3:
            raise Cancelled()  # what a job's progress does once cancel is asked

    with pytest.raises(Cancelled):
        _import(project, path, progress)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 < fractions[-1] < 0.5
    assert "checked 0 records" in seen[0][1] and "% of the file" in seen[0][1]


def test_an_upload_over_the_limit_is_a_400_naming_the_setting(admin_user, project, settings):
    from rest_framework.test import APIClient

    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    api = APIClient()
    api.force_authenticate(admin_user)
    upload = io.BytesIO(b"".join(json.dumps({"prompt": f"Prompt {i}"}).encode() + b"\n" for i in range(20)))
    upload.name = "prompts.jsonl"
    response = api.post(f"/api/projects/{project.pk}/imports/", {"file": upload, "kind": "prompts"}, format="multipart")
    assert response.status_code == 400 and "IMPORT_MAX_UPLOAD_BYTES" in json.dumps(response.json())


def test_a_failed_import_does_not_offer_a_retry_that_can_only_fail_again(admin_user, project, client, tmp_path):
    from rest_framework.test import APIClient

    from exports.services.imports import import_start
    from jobs.services import job_create, job_run

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": \n')
    options = import_options_check(kind="prompts", fmt="jsonl", filename=str(bad))
    job = job_run(job_id=import_start(project=project, path=bad, options=options, user=admin_user, enqueue=False).pk)
    assert job.status == "failed" and job.error.startswith("line 2: invalid JSON") and not job.retryable
    api = APIClient()
    api.force_authenticate(admin_user)
    assert api.get(f"/api/jobs/{job.pk}/").json()["retryable"] is False
    refused = api.post(f"/api/jobs/{job.pk}/retry/")
    assert refused.status_code == 400 and "failed on its input" in refused.json()["detail"]
    client.force_login(admin_user)
    assert f"Retry job {job.pk}" not in client.get("/jobs/").content.decode()
    # A job that failed for another reason may still be retried.
    other = job_run(job_id=job_create(kind="noop", user=admin_user, params={"fail": "boom"}, enqueue=False).pk)
    assert other.status == "failed" and other.retryable
    assert f"Retry job {other.pk}" in client.get("/jobs/").content.decode()
    assert api.post(f"/api/jobs/{other.pk}/retry/").json()["status"] == "queued"
