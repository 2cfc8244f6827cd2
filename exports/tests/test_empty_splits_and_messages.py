"""A snapshot writes no empty split file (datasets.load_dataset refuses one) and says which it
left out, on its page too; an import's messages are sentences: no class name, no "at at", and
no "writing" left over once it succeeded."""
from pathlib import Path

import pytest

from exports.services.imports import import_options_check, import_start
from exports.tests.conftest import run_export
from exports.writers import FORMATS
from jobs.services import job_run

pytestmark = pytest.mark.django_db


def test_empty_splits_get_no_file_and_every_file_loads(client, admin_user, project, labelled):
    from datasets import load_dataset

    snapshot, job = run_export(project, formats=list(FORMATS), test_ratio=0.0)
    root = Path(snapshot.path)
    files = snapshot.manifest["files"]
    assert not [name for name in files if "/test." in name]
    assert not list(root.rglob("test.*")), "no empty file on disk either"
    omitted = {o["file"] for o in snapshot.manifest["omitted"]}
    assert omitted == {f"{name}/test.jsonl" for name in FORMATS}
    for name, info in files.items():
        if info["format"] != "card":
            assert len(load_dataset("json", data_files=str(root / name), split="train")) == info["rows"] > 0
    assert "not written, no rows" in job.log_tail
    client.force_login(admin_user)
    page = client.get(f"/exports/{snapshot.pk}/").content.decode()
    assert "Not written, because they would have no rows" in page and "preference/test.jsonl" in page
    assert "had no rows and were not written" in client.get(f"/exports/jobs/{job.pk}/").content.decode()


def _import(project, admin_user, tmp_path, text: str, kind="prompts", fmt="jsonl"):
    path = tmp_path / f"upload.{'csv' if fmt == 'csv' else 'jsonl'}"
    path.write_text(text, encoding="utf-8")
    options = import_options_check(kind=kind, fmt=fmt, filename=path.name)
    return job_run(job_id=import_start(project=project, path=path, options=options, user=admin_user).pk)


def test_import_errors_are_sentences(project, admin_user, tmp_path):
    job = _import(project, admin_user, tmp_path, '{"prompt": "fine"}\n{"prompt": "tab\tinside"}\n')
    assert job.status == "failed"
    assert job.error.startswith("line 2: invalid JSON (Invalid control character at column")
    assert "at at" not in job.error and "BadImportFile" not in job.error and job.error.endswith("Nothing was imported.")
    job = _import(project, admin_user, tmp_path, '{"chosen": "x"}\n', kind="preferences", fmt="trl")
    assert job.error == "line 1: missing field 'rejected' (the line has 'chosen'). Nothing was imported."


def test_a_finished_import_does_not_say_writing(project, admin_user, tmp_path):
    job = _import(project, admin_user, tmp_path, '{"prompt": "one"}\n{"prompt": "two"}\n')
    assert job.status == "succeeded"
    assert "writing" not in job.progress_message and job.progress_message.startswith("imported: 2 prompts")
