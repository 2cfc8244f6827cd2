"""Export snapshots: create one as a Job, write it, seal it.

    job = export_start(project=project, options={"formats": ["preference"], "test_ratio": 0.1}, user=admin)
    # the "export" job (exports queue) writes EXPORTS_DIR/project-<id>/v<version>/

A snapshot is written into a temporary directory, then sealed: its manifest (options,
counts, per-split counts, files with SHA-256, source model versions, schema and code
versions) is written and the directory renamed to its version in one step, so a snapshot
directory is either complete or absent. The snapshot's `sha256` hashes the file table (data
files and dataset card, not the manifest with its timestamp): the same data exported twice
gives the same files and the same hash.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotate.models import Project
from exports.models import ExportSnapshot
from exports.registry import model_names
from exports.services.card import dataset_card
from exports.services.options import ExportOptions, export_options_check
from exports.services.writing import snapshot_write
from jobs.models import Job
from jobs.services import JobContext, job_create

SCHEMA_VERSION = 1


@lru_cache(maxsize=1)
def code_version() -> str:
    """The git commit of the running code (with "+dirty" for local changes), or "unknown"."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip()
        return head or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def export_start(*, project: Project, options: dict | None = None, user=None, enqueue: bool = True) -> Job:
    """Validate the options now (a bad option is a 400, not a failed job) and queue the export
    (with enqueue=False, the caller runs it: `manage.py export`)."""
    opts = export_options_check(project=project, raw=options)
    return job_create(kind="export", project=project, params={"options": opts.to_dict()}, user=user,
                      enqueue=enqueue)


def content_hash(files: dict) -> str:
    table = json.dumps({path: info["sha256"] for path, info in sorted(files.items())}, sort_keys=True)
    return hashlib.sha256(table.encode()).hexdigest()


def _model_versions(stats) -> list[dict]:
    names = model_names(stats.model_versions)  # from the registry the training app registers
    return [{"id": pk, "name": names.get(pk, "?"), "candidates_in_rows": n}
            for pk, n in sorted(stats.model_versions.items())]


def export_job(job: Job, ctx: JobContext) -> dict:
    """The "export" job's handler. Idempotent: a rerun starts over in a fresh temporary
    directory, and a job whose snapshot was already sealed returns it."""
    sealed = ExportSnapshot.objects.filter(job=job).first()
    if sealed:
        return {"snapshot_id": sealed.pk, "version": sealed.version, "sha256": sealed.sha256}
    project = job.project
    opts = export_options_check(project=project, raw=job.params.get("options"))
    root = Path(settings.EXPORTS_DIR) / f"project-{project.pk}"
    tmp = root / f".tmp-job-{job.pk}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        ctx.progress(0.0, "reading labels")
        files, stats = snapshot_write(project=project, opts=opts, dest=tmp, progress=ctx.progress)
        ctx.progress(0.96, "writing the dataset card and manifest")
        counts = stats.as_dict()
        splits = {}
        for info in files.values():
            splits.setdefault(info["format"], {})[info["split"]] = info["rows"]
        card = dataset_card(project=project, opts=opts, counts=counts, splits=splits)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        from exports.writers.sink import file_sha256

        files["README.md"] = {"sha256": file_sha256(tmp / "README.md"), "bytes": (tmp / "README.md").stat().st_size,
                              "rows": None, "format": "card", "split": None}
        snapshot = _seal(job=job, ctx=ctx, project=project, opts=opts, tmp=tmp, files=files, counts=counts, splits=splits,
                         model_versions=_model_versions(stats), omitted=stats.omitted)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    ctx.log(f"snapshot v{snapshot.version}: {counts['ranking_rows']} ranking rows, {counts['pairs_all']} pairs, "
            f"{counts['demonstrations']} demonstrations, sha256 {snapshot.sha256[:12]}")
    if stats.omitted:
        ctx.log("not written, no rows: " + ", ".join(o["file"] for o in stats.omitted))
    return {"snapshot_id": snapshot.pk, "version": snapshot.version, "sha256": snapshot.sha256,
            "counts": {k: counts[k] for k in ("tasks", "ranking_rows", "pairs_all", "demonstrations")}}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Every file and directory of a snapshot on disk before its row says it exists: a crash
    after the commit must not leave a sealed snapshot with empty or missing files."""
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        _fsync(path)
    _fsync(root)


def _seal(*, job, ctx: JobContext, project, opts: ExportOptions, tmp: Path, files: dict, counts: dict,
          splits: dict, model_versions: list, omitted: list) -> ExportSnapshot:
    digest = content_hash(files)
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # one version number at a time
        version = (ExportSnapshot.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0) + 1
        final = tmp.parent / f"v{version}"
        manifest = {
            "schema_version": SCHEMA_VERSION, "version": version,
            "project": {"id": project.pk, "name": project.name},
            "created_at": timezone.now().isoformat(), "code_version": code_version(), "job_id": job.pk,
            "options": opts.to_dict(), "counts": counts, "splits": splits, "files": files,
            "model_versions": model_versions, "sha256": digest, "omitted": omitted,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        if final.exists():  # left by a crash between rename and commit: not a sealed snapshot
            shutil.rmtree(final)
        ctx.hold_claim()  # a run that lost its job to another seals nothing
        _fsync_tree(tmp)
        tmp.rename(final)
        _fsync(final.parent)  # the rename itself
        return ExportSnapshot.objects.create(project=project, version=version, job=job, filters=opts.to_dict(),
                                             manifest=manifest, path=str(final), sha256=digest)


def snapshot_file(*, snapshot: ExportSnapshot, relative: str) -> Path:
    """A file of the snapshot by its path in the manifest; anything else is refused (no
    walking out of the snapshot directory)."""
    if relative != "manifest.json" and relative not in snapshot.manifest.get("files", {}):
        raise ValidationError(f"{relative!r} is not a file of this snapshot.")
    path = Path(snapshot.path) / relative
    if not path.is_file():
        raise ValidationError(f"{relative} is missing from the snapshot directory (was it deleted?).")
    return path


def snapshot_format_files(*, snapshot: ExportSnapshot, fmt: str) -> dict[str, Path]:
    """{"train": path, "test": path} of one format, for training jobs: they read these files
    (the trainers in training/ml take plain paths) and record the snapshot on the model."""
    found = {info["split"]: Path(snapshot.path) / name
             for name, info in snapshot.manifest.get("files", {}).items() if info.get("format") == fmt}
    if not found:
        have = sorted({i.get("format") for i in snapshot.manifest.get("files", {}).values()} - {"card"})
        raise ValidationError(f"Snapshot v{snapshot.version} has no {fmt!r} files; it has {', '.join(have)}.")
    return found


def snapshot_verify(*, snapshot: ExportSnapshot) -> list[str]:
    """Problems with a snapshot's files against its manifest (missing, resized or changed
    files, an extra file); [] when it is intact. Reads every file: seconds per gigabyte."""
    from exports.writers.sink import file_sha256

    root = Path(snapshot.path)
    files = snapshot.manifest.get("files", {})
    problems = []
    for name, info in sorted(files.items()):
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != info["bytes"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, the manifest says {info['bytes']}")
        elif file_sha256(path) != info["sha256"]:
            problems.append(f"{name} has changed since the export (SHA-256 differs)")
    if root.is_dir():
        extra = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
                       and p.relative_to(root).as_posix() not in files and p.name != "manifest.json")
        problems += [f"{name} is not part of the snapshot" for name in extra]
    if content_hash(files) != snapshot.sha256:
        problems.append("the manifest's file table does not match the snapshot's SHA-256")
    return problems
