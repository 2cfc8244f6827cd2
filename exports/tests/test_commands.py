"""`manage.py import` and `manage.py export` go through the same jobs."""
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from exports.tests.conftest import DATA

pytestmark = pytest.mark.django_db


def test_import_then_export_from_the_command_line(project, tmp_path):
    out = StringIO()
    call_command("import", str(DATA / "vicuna_bench_questions.jsonl"), project=str(project.pk), kind="prompts",
                 format="mt-bench", stdout=out)
    assert "prompts_created: 80" in out.getvalue()
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps({"prompt": "Hi?", "chosen": "Hello!", "rejected": "No."}) + "\n")
    call_command("import", str(prefs), project=project.name, kind="preferences", stdout=StringIO())
    out = StringIO()
    call_command("export", project=project.name, formats="preference,hh", test_ratio=0.0, stdout=out)
    path = Path(out.getvalue().split(": ", 1)[1].splitlines()[0])
    rows = [json.loads(line) for line in (path / "preference" / "train.jsonl").read_text().splitlines()]
    assert rows == [{"prompt": "Hi?", "chosen": "Hello!", "rejected": "No."}]


def test_command_errors_name_the_problem(project, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": 3}\n')
    with pytest.raises(CommandError, match="line 2: field 'prompt'"):
        call_command("import", str(bad), project=str(project.pk), kind="prompts", stdout=StringIO())
    with pytest.raises(CommandError, match="No project 'nope'"):
        call_command("export", project="nope", stdout=StringIO())
    with pytest.raises(CommandError, match="file_type: Choose one of jsonl, jsonl.gz, parquet"):
        call_command("export", project=str(project.pk), file_type="xml", stdout=StringIO())


@pytest.fixture
def sends(monkeypatch):
    """The messages sent to the broker: [job id, …]."""
    from jobs.tasks import run_job

    sent = []
    monkeypatch.setattr(run_job, "apply_async", lambda *a, **k: sent.append(k["args"][0]) or type("R", (), {"id": ""})())
    return sent


@pytest.mark.django_db(transaction=True)
def test_export_without_queue_runs_here_once_and_sends_nothing(project, labelled, sends):
    """Without --queue the command runs the job itself: no worker gets a copy of it."""
    from jobs.models import Job

    call_command("export", project=str(project.pk), formats="preference", stdout=StringIO())
    job = Job.objects.get(kind="export")
    assert sends == [] and job.status == "succeeded" and job.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_export_with_queue_sends_one_message(project, labelled, sends):
    from jobs.models import Job

    out = StringIO()
    call_command("export", project=str(project.pk), formats="preference", queue=True, stdout=out)
    job = Job.objects.get(kind="export")
    assert sends == [job.pk] and job.status == "queued" and f"export job {job.pk} queued" in out.getvalue()
