"""Imports: real files round-trip; malformed files change nothing and name the line."""
import gzip
import json
import os

import pytest
from django.core.exceptions import ValidationError

from annotate.models import Candidate, Prompt, Ranking, Task
from exports.importers.reader import ImportFailure
from exports.services.imports import import_file, import_options_check, import_start
from exports.tests.conftest import DATA, HH_FILE, read_rows, run_export
from jobs.services import job_run


def counts():
    return (Prompt.objects.count(), Candidate.objects.count(), Task.objects.count(), Ranking.objects.count())


def do_import(project, path, kind, fmt="", **kw):
    return import_file(project=project, path=path, options=import_options_check(kind=kind, fmt=fmt,
                                                                                filename=str(path), **kw))


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.django_db
def test_hh_rlhf_round_trip(project):
    """1,200 real HH-RLHF comparisons in, exported as HH transcripts and TRL preference:
    the exported pairs are the imported ones."""
    result = do_import(project, HH_FILE, "preferences", "hh-rlhf")
    assert result == {"prompts_created": 1200, "rankings_created": 1200, "gold_tasks_created": 0, "records": 1200}
    assert Ranking.objects.filter(source="import:hh-rlhf", labeler=None, assignment=None).count() == 1200
    assert Task.objects.filter(state="complete", submissions_count=1).count() == 1200
    snapshot, _ = run_export(project, formats=["hh", "preference_chat", "preference"])
    with gzip.open(HH_FILE, "rt", encoding="utf-8") as f:
        source = sorted((r["chosen"], r["rejected"]) for r in map(json.loads, f))
    assert sorted((r["chosen"], r["rejected"]) for r in read_rows(snapshot, "hh")) == source
    # Conversational TRL rows rebuild the same transcripts.
    from exports.writers.text import hh_transcript

    chat = read_rows(snapshot, "preference_chat")
    rebuilt = sorted((hh_transcript(r["prompt"], r["chosen"][0]["content"]),
                      hh_transcript(r["prompt"], r["rejected"][0]["content"])) for r in chat)
    assert rebuilt == source
    # Standard TRL rows: a one-turn prompt is its text; a longer one is the transcript up to
    # "Assistant: ", so that prompt + completion is the HH transcript.
    def whole(prompt, completion):
        if prompt.startswith("\n\nHuman:"):
            return prompt + completion
        return hh_transcript([{"role": "user", "content": prompt}], completion)

    standard = sorted((whole(r["prompt"], r["chosen"]), whole(r["prompt"], r["rejected"]))
                      for r in read_rows(snapshot, "preference"))
    assert standard == source
    # Splits are by prompt: train and test never share one.
    splits = snapshot.manifest["splits"]["hh"]
    assert splits["train"] + splits["test"] == 1200 and splits["test"] > 0


@pytest.mark.django_db
def test_trl_standard_export_imports_back(project, tmp_path):
    """Ranklab's own standard preference rows (multi-turn prompts as transcripts) import back
    as the same conversations: 300 of the HH comparisons, exported, re-imported, exported as HH."""
    from annotate.services.projects import project_create

    with gzip.open(HH_FILE, "rt", encoding="utf-8") as f:
        source = [json.loads(line) for _, line in zip(range(300), f, strict=False)]
    first = write_lines(tmp_path / "hh300.jsonl", [json.dumps(r) for r in source])
    do_import(project, first, "preferences", "hh-rlhf")
    snapshot, _ = run_export(project, formats=["preference"], test_ratio=0)
    other = project_create(name="Second", task_kinds=["ranking"], k=2)
    path = os.path.join(snapshot.path, "preference", "train.jsonl")
    assert do_import(other, path, "preferences", "trl", source="import:trl")["rankings_created"] == 300
    again, _ = run_export(other, formats=["hh"], test_ratio=0)
    assert sorted((r["chosen"], r["rejected"]) for r in read_rows(again, "hh")) == \
        sorted((r["chosen"], r["rejected"]) for r in source)


@pytest.mark.django_db
def test_trl_conversational_and_implicit_prompt(project, tmp_path):
    rows = [
        {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
         "rejected": [{"role": "assistant", "content": "5"}]},
        {"chosen": [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris"}],
         "rejected": [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Rome"}]},
    ]
    path = write_lines(tmp_path / "prefs.jsonl", [json.dumps(r) for r in rows])
    assert do_import(project, path, "preferences", "trl")["rankings_created"] == 2
    ranking = Ranking.objects.get(task__prompt__conversation__0__content="Capital of France?")
    best = Candidate.objects.get(pk=ranking.tiers[0][0])
    assert best.text == "Paris" and ranking.source == "import:trl"


@pytest.mark.django_db
def test_preferences_as_gold_tasks(project, tmp_path):
    path = write_lines(tmp_path / "g.jsonl", [json.dumps({"prompt": "Hi?", "chosen": "Hello!", "rejected": "Go away."})])
    assert do_import(project, path, "preferences", "trl", as_gold=True)["gold_tasks_created"] == 1
    task = Task.objects.get(is_gold=True)
    chosen = Candidate.objects.get(text="Hello!")
    assert task.state == "open" and task.gold_answer["tiers"][0] == [chosen.pk] and not Ranking.objects.exists()


@pytest.mark.django_db
def test_prompt_formats(project, tmp_path):
    result = do_import(project, DATA / "mt_bench_questions.jsonl", "prompts", "mt-bench")
    assert result["prompts_created"] == 80 and result["dropped_turns"] == 80
    assert sum(1 for tags in Prompt.objects.values_list("tags", flat=True) if tags == ["writing"]) == 10
    assert Prompt.objects.filter(source="import:mt-bench question 81").exists()
    csv = tmp_path / "p.csv"
    csv.write_text('prompt,tags,language\n"Explain ""recursion"", briefly.",cs;intro,en\n"Two\nlines",,fr\n', encoding="utf-8")
    assert do_import(project, csv, "prompts")["prompts_created"] == 2
    assert Prompt.objects.get(language="fr").text == "Two\nlines"
    assert Prompt.objects.get(tags=["cs", "intro"]).text == 'Explain "recursion", briefly.'
    txt = write_lines(tmp_path / "p.txt", ["First prompt", "", "Second prompt"])
    assert do_import(project, txt, "prompts")["prompts_created"] == 2
    si = do_import(project, DATA / "self_instruct_seed_tasks.jsonl", "prompts", "self-instruct")
    assert si["prompts_created"] == 175


@pytest.mark.django_db
def test_duplicate_prompts_skip_or_fail(project, tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [json.dumps({"prompt": "Same?"}), json.dumps({"prompt": "Other"}),
                                              json.dumps({"prompt": "Same?"})])
    before = counts()
    with pytest.raises(ImportFailure, match=r"line 3: This prompt is already in the project"):
        do_import(project, path, "prompts", on_duplicate="fail")
    assert counts() == before
    assert do_import(project, path, "prompts", on_duplicate="skip") == {
        "prompts_created": 2, "duplicates_skipped": 1, "dropped_turns": 0, "records": 3}


@pytest.mark.django_db
def test_candidates_from_model_outputs(project, tmp_path):
    from annotate.services.projects import prompt_create

    prompt = prompt_create(project=project, conversation="Name a fruit.")
    lines = [json.dumps({"prompt_id": prompt.pk, "completion": f"Fruit {i}", "model": "tiny-gpt"}) for i in range(5)]
    lines.append(json.dumps({"prompt": "A new prompt?", "completion": "Yes.", "model": "other", "seed": 3}))
    path = write_lines(tmp_path / "c.jsonl", lines)
    result = do_import(project, path, "candidates", make_tasks=True)
    assert result == {"candidates_created": 6, "prompts_created": 1, "tasks_created": 1,
                      "candidates_without_task": 2, "records": 6}
    task = Task.objects.get(prompt=prompt)
    assert len(task.candidate_ids()) == project.k
    bad = write_lines(tmp_path / "bad.jsonl", [json.dumps({"prompt_id": 999999, "completion": "x", "model": "m"})])
    with pytest.raises(ImportFailure, match="line 1: prompt 999999 is not in this project"):
        do_import(project, bad, "candidates")


@pytest.mark.django_db
def test_candidates_link_the_registered_model_of_their_name(project, tmp_path, monkeypatch):
    """Through the lookup the training app registers (exports imports nothing from training);
    without one, the name is still kept as the candidates' source."""
    from annotate.services.projects import prompt_create
    from exports import registry
    from training.services.registry import model_register

    tiny = model_register(name="tiny-gpt", backend="openai", location="http://127.0.0.1:9/v1", endpoint_model="m")
    prompt = prompt_create(project=project, conversation="Name a fruit.")
    path = write_lines(tmp_path / "c.jsonl", [json.dumps({"prompt_id": prompt.pk, "completion": text, "model": model})
                                              for text, model in (("Apple.", "tiny-gpt"), ("Pear.", "unregistered"))])
    do_import(project, path, "candidates")
    assert {(c.text, c.source, c.model_version_id) for c in Candidate.objects.filter(prompt=prompt)} == {
        ("Apple.", "tiny-gpt", tiny.pk), ("Pear.", "unregistered", None)}
    assert registry.model_names([tiny.pk, 999]) == {tiny.pk: "tiny-gpt"}
    from types import SimpleNamespace

    from exports.services.snapshots import _model_versions  # what a snapshot's manifest lists

    assert _model_versions(SimpleNamespace(model_versions={tiny.pk: 2, tiny.pk + 1000: 1})) == [
        {"id": tiny.pk, "name": "tiny-gpt", "candidates_in_rows": 2},
        {"id": tiny.pk + 1000, "name": "?", "candidates_in_rows": 1}]

    monkeypatch.setattr(registry, "MODEL_LOOKUPS", {})  # no registry installed
    do_import(project, path, "candidates")
    assert Candidate.objects.filter(source="tiny-gpt", model_version=None).count() == 1
    assert registry.model_names([tiny.pk]) == {}


# --- malformed files: nothing changes, the error names the line ----------------------------

def prompt_lines(n):
    return [json.dumps({"prompt": f"Valid prompt {i}"}) for i in range(n)]


@pytest.mark.django_db
def test_bad_json_on_line_7(project, tmp_path):
    lines = prompt_lines(6) + ['{"prompt": "unterminated}'] + prompt_lines(3)
    path = write_lines(tmp_path / "bad.jsonl", lines)
    before = counts()
    with pytest.raises(ImportFailure, match=r"^.*line 7: invalid JSON \(Unterminated string"):
        do_import(project, path, "prompts")
    assert counts() == before


@pytest.mark.django_db
def test_missing_field_on_line_12_through_the_job(project, tmp_path):
    rows = [{"prompt": f"Q{i}?", "chosen": "good", "rejected": "bad"} for i in range(20)]
    del rows[11]["rejected"]
    path = write_lines(tmp_path / "prefs.jsonl", [json.dumps(r) for r in rows])
    before = counts()
    job = import_start(project=project, path=path, options=import_options_check(kind="preferences", fmt="trl"),
                       enqueue=False)
    job = job_run(job_id=job.pk)
    assert job.status == "failed"
    assert "line 12: missing field 'rejected'" in job.error and "Nothing was imported" in job.error
    assert counts() == before


@pytest.mark.django_db
def test_a_database_rule_failing_late_rolls_back_everything(project, tmp_path):
    from annotate.services.projects import project_create

    demo_only = project_create(name="Demos only", task_kinds=["demonstration"])
    path = write_lines(tmp_path / "p.jsonl", [json.dumps({"prompt": "Q?", "chosen": "a", "rejected": "b"})])
    before = counts()
    with pytest.raises(ImportFailure, match="line 1: The project does not collect ranking tasks"):
        do_import(demo_only, path, "preferences", "trl")
    assert counts() == before


@pytest.mark.django_db
def test_empty_file(project, tmp_path):
    for content in (b"", b"\n\n  \n"):
        path = tmp_path / "empty.jsonl"
        path.write_bytes(content)
        with pytest.raises(ImportFailure, match="The file is empty"):
            do_import(project, path, "prompts")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(ImportFailure, match="The file is empty"):
        do_import(project, tmp_path / "empty.csv", "prompts")
    assert counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_a_2_gb_line_is_refused_without_reading_it(project, tmp_path):
    """A real 2 GiB file (sparse, so it costs no disk): three good lines, then 2 GiB with no
    newline. The reader stops at the limit; memory never holds the line."""
    import resource

    path = write_lines(tmp_path / "huge.jsonl", prompt_lines(3))
    with open(path, "r+b") as f:
        f.truncate(2 * 1024**3)
    assert path.stat().st_size == 2 * 1024**3
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImportFailure, match=r"line 4: the line is longer than the limit of 8 MiB"):
        do_import(project, path, "prompts")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100
    assert counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_wrong_encoding(project, tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(("\n".join(prompt_lines(2)) + '\n{"prompt": "Un café, s\'il vous plaît"}\n').encode("latin-1"))
    with pytest.raises(ImportFailure, match=r"line 3: the text is not valid UTF-8 \(byte 0xe9"):
        do_import(project, path, "prompts")
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("Hello\nWorld\n".encode("utf-16"))
    with pytest.raises(ImportFailure, match="line 1: the text is not valid UTF-8"):
        do_import(project, utf16, "prompts")
    assert counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_other_malformed_records(project, tmp_path):
    cases = [
        ('[1, 2]', "line 1: expected a JSON object, got list"),
        ('{"prompt": ""}', "line 1: field 'prompt': Message 0: content must be a non-empty string"),
        ('{"prompt": [{"role": "robot", "content": "x"}]}', "role must be system, user or assistant"),
        ('{"text": "x"}', "line 1: missing field 'prompt'"),
    ]
    for text, message in cases:
        path = write_lines(tmp_path / "x.jsonl", [text])
        with pytest.raises(ImportFailure, match=message.replace("(", r"\(").replace("[", r"\[")):
            do_import(project, path, "prompts")
    hh = write_lines(tmp_path / "hh.jsonl", [json.dumps({"chosen": "\n\nHuman: a\n\nAssistant: b",
                                                          "rejected": "\n\nHuman: c\n\nAssistant: d"})])
    with pytest.raises(ImportFailure, match="line 1: 'chosen' and 'rejected' differ before their last Assistant turn"):
        do_import(project, hh, "preferences", "hh-rlhf")
    gz = tmp_path / "trunc.jsonl.gz"
    gz.write_bytes(gzip.compress("\n".join(prompt_lines(2000)).encode())[:-40])
    with pytest.raises(ImportFailure, match="gzip data is corrupt or truncated"):
        do_import(project, gz, "prompts")
    assert counts() == (0, 0, 0, 0)


def test_bad_import_options():
    with pytest.raises(ValidationError, match="Choose one of prompts, preferences, candidates"):
        import_options_check(kind="labels")
    with pytest.raises(ValidationError, match="preferences are imported from trl, hh-rlhf"):
        import_options_check(kind="preferences", fmt="csv")


@pytest.mark.django_db
def test_import_job_reports_progress_through_the_file(project, tmp_path, monkeypatch):
    from exports.services import imports
    from jobs.models import Job

    # A report every 50 records, so 200 prompts give the same four reports as 2,000 at the default.
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 50)
    path = write_lines(tmp_path / "many.jsonl", prompt_lines(200))
    seen = []
    result = import_file(project=project, path=path, options=import_options_check(kind="prompts", fmt="jsonl"),
                         progress=lambda fraction, message: seen.append((fraction, message)))
    assert result["prompts_created"] == 200
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0.2 < fractions[1] < 0.3 and fractions[-1] == 0.5
    assert seen[0][1].startswith("checked 50 records (2") and seen[-1][1] == "200 records valid; writing"
    assert not Job.objects.exists()
