"""Export snapshots end to end: filters, merge, manifest, determinism, splits, formats."""
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from exports.tests.conftest import read_rows, run_export
from exports.writers import FORMATS

ALL = list(FORMATS)


@pytest.mark.django_db
def test_manifest_counts_match_the_files(project, labelled):
    snapshot, job = run_export(project, formats=ALL)
    manifest = json.loads((Path(snapshot.path) / "manifest.json").read_text())
    assert manifest == snapshot.manifest and manifest["version"] == snapshot.version == 1
    for name, info in manifest["files"].items():
        path = Path(snapshot.path) / name
        assert path.stat().st_size == info["bytes"]
        if info["rows"] is not None:
            assert len(path.read_text().splitlines()) == info["rows"] == manifest["splits"][info["format"]][info["split"]]
    counts = manifest["counts"]
    # 3 tasks x 2 rankings + 1 pair task; the can't-judge answer is excluded by default.
    assert counts["submissions"] == 7 and counts["tasks"] == 4
    # pairs: five strict K=4 rankings (6 each), one with a tie (5), the K=2 pair (1).
    assert counts["pairs_all"] == 6 + 6 + 6 + 6 + 5 + 6 + 1
    assert counts["tied_pairs_dropped"] == 1
    assert sum(manifest["splits"]["preference"].values()) == counts["pairs_all"]
    assert sum(manifest["splits"]["ranked_groups"].values()) == 7
    assert sum(manifest["splits"]["sft_messages"].values()) == 1
    assert manifest["schema_version"] == 1 and manifest["code_version"]
    assert job.progress == 1.0 and "snapshot v1" in job.log_tail
    card = (Path(snapshot.path) / "README.md").read_text()
    assert "| pairs, all C(K,2) | 36 |" in card and "Mean pairwise agreement" in card


@pytest.mark.django_db
def test_same_data_twice_gives_identical_files_and_hash(project, labelled):
    first, _ = run_export(project, formats=ALL, file_type="jsonl.gz")
    second, _ = run_export(project, formats=ALL, file_type="jsonl.gz")
    assert second.version == 2 and first.path != second.path
    assert first.sha256 == second.sha256
    assert {k: v["sha256"] for k, v in first.manifest["files"].items()} == \
           {k: v["sha256"] for k, v in second.manifest["files"].items()}
    third, _ = run_export(project, formats=ALL, file_type="parquet")
    fourth, _ = run_export(project, formats=ALL, file_type="parquet")
    assert third.sha256 == fourth.sha256 != first.sha256


@pytest.mark.django_db
def test_ranked_groups_follow_the_contract(project, labelled, labelers):
    snapshot, _ = run_export(project, formats=["ranked_groups", "raw"], test_ratio=0.0)
    groups = read_rows(snapshot, "ranked_groups")
    tied = next(g for g in groups if len(g["tiers"]) == 3)
    assert tied["tiers"] == [[2], [0, 1], [3]] and tied["ratings"] == [4, 4, 6, 2]
    assert tied["prompt"] == [{"role": "user", "content": "Question 2: how do plants grow?"}]
    assert tied["completions"][2] == "Answer 2 to prompt 3" and tied["split"] == "train"
    pair = next(g for g in groups if len(g["completions"]) == 2)
    assert pair["preference_strength"] == "much_better"
    raw = read_rows(snapshot, "raw")
    ids = {u.pk for u in labelers} | {u.username for u in labelers}
    assert {r["labeler"] for r in raw} == {"L1", "L2", "L3"} and not ids & {r["labeler"] for r in raw}
    first = raw[0]
    assert sorted(first["shown_order"]) == [0, 1, 2, 3] and first["time_on_task_ms"] == 12_000
    assert first["flags"][3] == ["hallucination"]


@pytest.mark.django_db
def test_filters(project, labelled, labelers):
    ann, bob, cat = labelers
    snap, _ = run_export(project, formats=["raw"], exclude_cant_judge=False)
    assert {r["outcome"] for r in read_rows(snap, "raw")} == {"ranked", "cant_judge"}
    snap, _ = run_export(project, formats=["raw"], labelers=[bob.pk])
    assert len(read_rows(snap, "raw")) == 3
    snap, _ = run_export(project, formats=["raw"], min_submissions=2)
    assert len(read_rows(snap, "raw")) == 6
    # Agreement: task 1 identical (1.0), task 2 reversed (0.0), task 3 one tie (5.5/6).
    snap, _ = run_export(project, formats=["raw"], min_agreement=0.9)
    assert {r["task_id"] for r in read_rows(snap, "raw")} == {labelled["tasks"][0].pk, labelled["tasks"][2].pk}
    snap, _ = run_export(project, formats=["raw"], only_accepted=True)
    assert read_rows(snap, "raw") == []
    snap, _ = run_export(project, formats=["raw"], date_to="2000-01-01")
    assert snap.manifest["counts"]["submissions"] == 0
    from django.utils import timezone

    snap, _ = run_export(project, formats=["raw"], date_from=timezone.now().date().isoformat(),
                         date_to=timezone.now().date().isoformat())
    assert snap.manifest["counts"]["submissions"] == 7


@pytest.mark.django_db
def test_consensus_merge_gives_one_row_per_task(project, labelled):
    snap, _ = run_export(project, formats=["ranked_groups", "preference", "raw"], merge="consensus", test_ratio=0)
    groups = read_rows(snap, "ranked_groups")
    assert len(groups) == 4 and all(g["labeler"] == "consensus" for g in groups)
    first = next(g for g in groups if g["task_id"] == labelled["tasks"][0].pk)
    assert first["tiers"] == [[0], [1], [2], [3]] and first["submissions"] == 2 and first["ratings"] == [6, None, None, 1]
    # Two labelers in full disagreement: the consensus ties every candidate, so no pair.
    second = next(g for g in groups if g["task_id"] == labelled["tasks"][1].pk)
    assert second["tiers"] == [[0, 1, 2, 3]]
    assert len(read_rows(snap, "raw")) == 7  # raw keeps every submission


@pytest.mark.django_db
def test_bad_options_are_refused_with_the_field(project):
    from exports.services.snapshots import export_start

    with pytest.raises(ValidationError, match="Unknown format"):
        export_start(project=project, options={"formats": ["csv"]})
    with pytest.raises(ValidationError, match="test ratio lies between 0 and 1"):
        export_start(project=project, options={"test_ratio": 2})
    with pytest.raises(ValidationError, match="Unknown option"):
        export_start(project=project, options={"min_agreemnt": 0.5})
    with pytest.raises(ValidationError, match="not members of this project"):
        export_start(project=project, options={"labelers": [987654]})
    with pytest.raises(ValidationError, match="before its start"):
        export_start(project=project, options={"date_from": "2026-02-01", "date_to": "2026-01-01"})


@pytest.mark.django_db
@pytest.mark.parametrize("file_type", ["jsonl", "jsonl.gz", "parquet"])
def test_every_format_loads_with_datasets(project, labelled, file_type):
    from datasets import load_dataset

    snapshot, _ = run_export(project, formats=ALL, file_type=file_type, test_ratio=0.0, margin="ratings")
    builder = "parquet" if file_type == "parquet" else "json"
    for name in ALL:
        path = str(Path(snapshot.path) / name / f"train.{file_type}")
        rows = snapshot.manifest["files"][f"{name}/train.{file_type}"]["rows"]
        assert rows > 0, name
        ds = load_dataset(builder, data_files=path, split="train")
        assert len(ds) == rows, name
    pref = load_dataset(builder, data_files=str(Path(snapshot.path) / f"preference/train.{file_type}"), split="train")
    assert set(pref.column_names) == {"prompt", "chosen", "rejected", "margin"}


@pytest.mark.django_db
def test_snapshot_directory_is_sealed_only_when_complete(project, labelled, exports_dir):
    from exports.services.snapshots import snapshot_format_files

    snap, _ = run_export(project, formats=["preference"], file_type="jsonl.gz")
    root = Path(exports_dir) / f"project-{project.pk}"
    assert sorted(p.name for p in root.iterdir()) == ["v1"]  # no temporary directory left
    files = snapshot_format_files(snapshot=snap, fmt="preference")
    assert sorted(files) == ["test", "train"] and files["train"].name == "train.jsonl.gz" and files["train"].is_file()
    with pytest.raises(ValidationError, match="has no 'kto' files; it has preference"):
        snapshot_format_files(snapshot=snap, fmt="kto")


@pytest.mark.django_db
@pytest.mark.postgres
def test_concurrent_exports_get_distinct_versions(project, labelled, transactional_db):
    """Two export jobs sealing at once on PostgreSQL: versions 1 and 2, never a clash."""
    import threading

    from django.db import connection

    from exports.services.snapshots import export_start
    from jobs.services import job_run

    jobs = [export_start(project=project, options={"formats": ["preference"]}) for _ in range(2)]
    results, barrier = {}, threading.Barrier(2)

    def run(job_id):
        barrier.wait()
        try:
            results[job_id] = job_run(job_id=job_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(j.pk,)) for j in jobs]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert {r.status for r in results.values()} == {"succeeded"}
    assert sorted(r.result["version"] for r in results.values()) == [1, 2]
    assert len({r.result["sha256"] for r in results.values()}) == 1


@pytest.mark.django_db(transaction=True)
def test_reading_ahead_in_a_thread_writes_the_same_files(project, labelled):
    """Outside a transaction the export reads the next chunk in a second thread (its own
    connection); inside one it reads in line. Same bytes either way, chunk after chunk."""
    from django.db import transaction

    ahead, _ = run_export(project, formats=ALL, chunk_size=1)
    with transaction.atomic():
        inline, _ = run_export(project, formats=ALL, chunk_size=1)
    assert ahead.sha256 == inline.sha256 and ahead.manifest["counts"]["tasks"] == 4


def test_the_reader_thread_stops_when_the_consumer_does():
    import threading

    from exports.services.prefetch import prefetched

    produced = []

    def produce():
        for i in range(1000):
            produced.append(i)
            yield i

    before = threading.active_count()
    for item in prefetched(produce):
        if item == 3:
            break
    assert threading.active_count() == before and len(produced) < 10

    def broken():
        yield 1
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError, match="database went away"):
        list(prefetched(broken))


@pytest.mark.django_db
@pytest.mark.parametrize("file_type", ["jsonl", "jsonl.gz", "parquet"])
def test_ranklabs_own_trainers_read_the_snapshot(project, labelled, file_type):
    """The contract with training/ml: its readers take the snapshot directory as is."""
    data = pytest.importorskip("training.ml.data")
    policy_data = pytest.importorskip("training.ml.policy_data")

    snapshot, _ = run_export(project, formats=["ranked_groups", "preference_chat", "sft_messages"],
                             file_type=file_type, test_ratio=0.0, merge="consensus")
    groups, source = data.load_ranked_groups(snapshot.path, "train")
    assert source.name == f"train.{file_type}" and len(groups) == 4
    assert sum(len(g.pairs()) for g in groups) == snapshot.manifest["counts"]["pairs_all"]
    pairs, _ = policy_data.load_preference_pairs(snapshot.path, "train")
    assert len(pairs) == snapshot.manifest["splits"]["preference_chat"]["train"]
    demos, _ = data.load_demonstrations(snapshot.path, "train")
    assert demos[0][-1]["content"].startswith("Soft rain")


@pytest.mark.django_db
def test_verify_finds_a_changed_or_missing_file(project, labelled):
    from exports.services.snapshots import snapshot_verify

    snap, _ = run_export(project, formats=["preference", "kto"], test_ratio=0)
    assert snapshot_verify(snapshot=snap) == []
    train = Path(snap.path) / "preference" / "train.jsonl"
    data = bytearray(train.read_bytes())
    data[10] = ord("X") if data[10] != ord("X") else ord("Y")
    train.write_bytes(bytes(data))
    (Path(snap.path) / "kto" / "train.jsonl").unlink()  # test_ratio=0: no test files are written
    (Path(snap.path) / "notes.txt").write_text("hello")
    assert snapshot_verify(snapshot=snap) == [
        "kto/train.jsonl is missing", "preference/train.jsonl has changed since the export (SHA-256 differs)",
        "notes.txt is not part of the snapshot"]


@pytest.mark.django_db
def test_a_cancelled_export_leaves_nothing_behind(project, labelled, exports_dir):
    """The handler stops at its next progress report once cancel is requested; the temporary
    directory goes and no snapshot row is made."""
    from exports.models import ExportSnapshot
    from exports.services.snapshots import export_job, export_start
    from jobs.models import Job
    from jobs.services import JobCancelled, JobContext

    job = export_start(project=project, options={"formats": ["preference"], "chunk_size": 1})
    Job.objects.filter(pk=job.pk).update(cancel_requested=True, status="running")
    job.refresh_from_db()
    with pytest.raises(JobCancelled):
        export_job(job, JobContext(job))
    root = Path(exports_dir) / f"project-{project.pk}"
    assert not ExportSnapshot.objects.exists() and (not root.exists() or list(root.iterdir()) == [])


@pytest.mark.django_db
def test_a_write_error_closes_every_file_and_reports_the_first_error(project, labelled, tmp_path, monkeypatch):
    from exports.services.options import export_options_check
    from exports.services.writing import snapshot_write
    from exports.writers import sink as sink_module

    opened, errors = [], iter(["No space left on device", "second error", "third error"])
    real_init, real_flush = sink_module.Sink.__init__, sink_module.Sink._flush

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        opened.append(self)

    def flush(self):
        if self._batch:
            raise OSError(next(errors, "later error"))
        real_flush(self)

    monkeypatch.setattr(sink_module.Sink, "__init__", init)
    monkeypatch.setattr(sink_module.Sink, "_flush", flush)
    opts = export_options_check(project=project, raw={"formats": ["preference", "ranked_groups"]})
    with pytest.raises(OSError, match="No space left on device"):
        snapshot_write(project=project, opts=opts, dest=tmp_path / "out")
    assert opened and all(s._raw.closed for s in opened)


@pytest.mark.django_db
def test_a_sealed_snapshot_is_on_disk_before_its_row_exists(project, labelled, monkeypatch):
    """Every file, every directory and the rename are fsynced before the row is written."""
    import os

    from exports.models import ExportSnapshot
    from exports.services.snapshots import export_start
    from jobs.services import job_run

    synced, rows_then = [], []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        rows_then.append(ExportSnapshot.objects.count())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    job = job_run(job_id=export_start(project=project, options={"formats": ["preference"]}).pk)
    snapshot = ExportSnapshot.objects.get(pk=job.result["snapshot_id"])
    root = Path(snapshot.path)
    tmp = root.parent / f".tmp-job-{job.pk}"
    expected = {tmp / p.relative_to(root) for p in root.rglob("*")} | {tmp, root.parent}
    assert expected <= set(synced) and set(rows_then) == {0}
